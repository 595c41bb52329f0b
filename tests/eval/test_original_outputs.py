"""The recipe for the original repository's test.py outputs (docs/scoring.md): heatmap-grid joints, root bins and
the inverse crop affine mapped to the image_relative form as its Dataset.evaluate maps them (#30)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from interhand.cli import main
from interhand.eval.original_outputs import original_datalist_order, original_outputs_to_image_relative
from interhand.eval.score_file import read_rows


def test_one_joint_worked_out_by_hand():
    joint_coord = np.zeros((1, 42, 3))
    joint_coord[0, 7] = (16, 32, 48)  # grid → patch px (64, 128) → image by inv_trans: (2·64 + 10, 2·128 + 20)
    inv_trans = np.array([[[2.0, 0.0, 10.0], [0.0, 2.0, 20.0]]])
    fields = original_outputs_to_image_relative(joint_coord, np.array([[16.0]]), np.array([[0.9, 0.2]]), inv_trans)
    np.testing.assert_allclose(fields["joints_img_px"][0, 7], (138.0, 276.0))
    assert fields["joints_rel_depth_mm"][0, 7] == 100.0  # (48/64·2 − 1)·200
    assert fields["joints_rel_depth_mm"][0, 0] == -200.0  # bin 0: the near end of the 400 mm box
    assert fields["rel_root_depth_mm"].tolist() == [-100.0]  # (16/64·2 − 1)·200
    assert fields["hand_type_prob"].tolist() == [[0.9, 0.2]]


def test_the_datalist_order_is_single_hand_annotations_first():
    annotations = [{"id": 5, "hand_type": "right"}, {"id": 3, "hand_type": "interacting"},
                   {"id": 9, "hand_type": "left"}, {"id": 1, "hand_type": "interacting"}]
    assert original_datalist_order(annotations).tolist() == [5, 9, 3, 1]


def _original_outputs(rows: dict) -> tuple[np.ndarray, ...]:
    """What the original's test.py would save for a perfect network: the ground truth pushed through a rotated,
    scaled crop into the 64³ grid (no rounding), and the crop's inverse affine."""
    cam = rows["joints_cam_mm"]
    uv = cam[..., :2] / cam[..., 2:] * rows["focal"][:, None] + rows["princpt"][:, None]
    count = len(cam)
    angle = np.linspace(-0.6, 0.6, count)
    scale = np.linspace(0.8, 1.4, count)
    rotation = scale[:, None, None] * np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1),
                                                np.stack([np.sin(angle), np.cos(angle)], -1)], 1)
    shift = np.stack([128 - 40 * scale, 128 + 25 * scale], -1)
    patch = np.einsum("nij,nkj->nki", rotation, uv) + shift[:, None]  # trans: image px → 256 px patch
    inverse = np.linalg.inv(rotation)
    inv_trans = np.concatenate([inverse, -np.einsum("nij,nj->ni", inverse, shift)[..., None]], -1)
    rel = cam[..., 2] - np.repeat(cam[:, [20, 41], 2], 21, axis=1)
    joint_coord = np.concatenate([patch / 256 * 64, ((rel / 200 + 1) / 2 * 64)[..., None]], -1)
    root_bins = ((cam[:, 41, 2] - cam[:, 20, 2]) / 200 + 1) / 2 * 64
    return joint_coord.astype(np.float32), root_bins[:, None], uv, rel, inv_trans


def test_a_perfect_original_output_maps_back_to_the_image_and_scores_zero(synth_ih26m_shards, tmp_path):
    rows = read_rows(synth_ih26m_shards / "val")
    joint_coord, root_bins, uv, rel, inv_trans = _original_outputs(rows)
    hand_type = np.tile([0.8, 0.3], (len(uv), 1))
    fields = original_outputs_to_image_relative(joint_coord, root_bins, hand_type, inv_trans)
    np.testing.assert_allclose(fields["joints_img_px"], uv, atol=1e-3)  # float32 grid coordinates, as saved
    np.testing.assert_allclose(fields["joints_rel_depth_mm"], rel, atol=1e-3)
    path = tmp_path / "original.npz"
    np.savez(path, dataset="interhand26m", split="val", annotation_id=rows["annotation_id"], **fields)
    result = CliRunner().invoke(main, ["score", str(path), "--shards", str(Path(synth_ih26m_shards).parent.parent),
                                       "--root-source", "gt", "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "original" / "all" / "metrics.json").read_text())
    assert metrics["mpjpe"]["all"] < 1e-2 and metrics["mrrpe"] < 1e-2, metrics["mpjpe"]
