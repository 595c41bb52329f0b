"""Scoring a chunk of manifest rows at a time (#31): the same metrics whatever the chunk, and per_sample.parquet
equal to a whole-array computation of the same samples."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from interhand.eval.metrics import joint_errors, root_align, to_camera
from interhand.eval.predictions import PredictionFile
from interhand.eval.protocols import parse_selection
from interhand.eval.score_file import match_rows, open_rows, protocol_mask, read_rows, score_file


@pytest.fixture(scope="module")
def val_dir(synth_ih26m_shards):
    return synth_ih26m_shards / "val"  # val: it has interacting frames (MRRPE, hand confusion)


def _noisy_image_relative(rows: dict, reverse: bool) -> PredictionFile:
    """The ground truth in the image_relative form plus noise, in the manifest's order or reversed."""
    rng = np.random.default_rng(3)
    joints = rows["joints_cam_mm"] + rng.normal(0.0, 5.0, rows["joints_cam_mm"].shape)
    uv = joints[..., :2] / joints[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    roots = rows["root_joint_index"].astype(int)
    own = np.where(np.arange(42)[None] < 21, roots[:, :1], roots[:, 1:])
    rel_depth = joints[..., 2] - np.take_along_axis(joints[..., 2], own, axis=1)
    index = np.arange(len(rows["key"]))
    arrays = {"joints_img_px": uv, "joints_rel_depth_mm": rel_depth,
              "rel_root_depth_mm": joints[index, roots[:, 1], 2] - joints[index, roots[:, 0], 2] + 3.0,
              "hand_type_prob": rng.uniform(0, 1, (len(index), 2))}
    order = index[::-1] if reverse else index
    arrays = {name: np.asarray(values[order], np.float32).astype(np.float64) for name, values in arrays.items()}
    return PredictionFile("p.parquet", {"dataset": "interhand26m", "split": "val"}, list(rows["key"][order]), None,
                          arrays, "image_relative")


@pytest.mark.parametrize("protocol", ["all", "interacting", "mmpose", "interwild:all"])
def test_chunks_of_five_rows_give_the_metrics_of_one_chunk(val_dir, protocol):
    rows = read_rows(val_dir)
    assert len(rows["key"]) > 10  # several chunks of 5, the last one partial
    predictions = _noisy_image_relative(rows, reverse=True)  # the file's order is not the manifest's
    selection = parse_selection(protocol)
    mask = protocol_mask(protocol, rows, None)
    whole = score_file(predictions, rows, match_rows(predictions, rows, "m"), mask, "interhand26m", "gt", selection)
    split_rows = open_rows(val_dir)  # streamed from manifest.parquet, 5 rows at a time
    chunked = score_file(predictions, split_rows, match_rows(predictions, split_rows, "m"), mask, "interhand26m",
                         "gt", selection, chunk_rows=5)
    assert chunked[0] == whole[0]
    assert whole[0]["mpjpe"]["all"] is not None and whole[0]["counts"]["samples"] == int(mask.sum())
    assert protocol.startswith("interwild") or whole[0]["mrrpe"] is not None
    np.testing.assert_array_equal(chunked[1]["mean_error_mm"], whole[1]["mean_error_mm"])
    np.testing.assert_array_equal(chunked[1]["row"], np.flatnonzero(mask))  # manifest order
    overlay, pred_px = chunked[2](np.array([3, 0]))  # two samples re-read for the figures, in the order asked
    assert list(overlay["key"]) == [rows["key"][i] for i in np.flatnonzero(mask)[[3, 0]]]
    assert pred_px.shape == (2, 42, 2)


def test_per_sample_parquet_equals_the_whole_array_computation(val_dir, tmp_path):
    rows = read_rows(val_dir)
    predictions = _noisy_image_relative(rows, reverse=False)
    split_rows = open_rows(val_dir)
    path = tmp_path / "per_sample.parquet"
    score_file(predictions, split_rows, match_rows(predictions, split_rows, "m"), protocol_mask("all", rows, None),
               "interhand26m", "gt", None, path, chunk_rows=5)
    table = pq.read_table(path)
    assert table.num_rows == len(rows["key"]) and pq.ParquetFile(path).metadata.num_row_groups > 1
    # the reference: every sample at once, with the original's arithmetic (eval/metrics.py)
    joints_img_rel = np.concatenate([predictions.arrays["joints_img_px"],
                                     predictions.arrays["joints_rel_depth_mm"][..., None]], axis=-1)
    roots = rows["root_joint_index"].astype(np.int64)
    pred_cam = to_camera(joints_img_rel, rows["abs_depth_gt_mm"], roots, rows["focal"], rows["princpt"])
    errors = joint_errors(root_align(pred_cam, roots), root_align(rows["joints_cam_mm"], roots))
    valid = rows["joint_valid"] > 0
    with np.errstate(invalid="ignore"):
        mean_error = ((errors * valid).sum(1) / valid.sum(1)).astype(np.float32)
    assert table["key"].to_pylist() == list(rows["key"])
    assert table["hand_type"].to_pylist() == list(rows["hand_type"])
    np.testing.assert_array_equal(table["mean_error_mm"].to_numpy(zero_copy_only=False), mean_error)
    np.testing.assert_array_equal(np.stack(table["joints_cam_mm"].to_numpy(zero_copy_only=False)),
                                  pred_cam.astype(np.float32).reshape(-1, 126))
    assert table["handedness_correct"].null_count == 0
