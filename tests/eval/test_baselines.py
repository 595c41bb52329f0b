"""Baselines in `interhand eval`: the mean-pose predictor, an untrained network, and the train split."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import EVAL_LOADER, EvalConfig, ModelConfig
from interhand.eval import baselines
from interhand.eval.baselines import fit_mean_pose
from interhand.eval.run import run
from interhand.manifests.read import read_manifest
from interhand.model import InterNet, save_checkpoint
from interhand.skeleton import block_root_index


def _config(shards_root, output, **changes) -> EvalConfig:
    return EvalConfig(**{"shards": str(shards_root), "run_dir": str(output),
                          "loader": replace(EVAL_LOADER, threads=0), "vis": 0, **changes})


def _independent_mean_pose_mpjpe(train_dir, eval_dir) -> float:
    """The mean-pose MPJPE with plain loops: per-joint mean offset from the wrist over the train split, then the
    mean over joints of each joint's mean distance to it on the evaluated split (wrists count as 0, as the original)."""
    def rel(table):
        joints = np.array(table["joints_cam_mm"]); valid = np.array(table["joint_valid"]) > 0
        roots = block_root_index(np.array(table["root_joint_index"]))
        out, ok = np.zeros_like(joints), np.zeros(valid.shape, bool)
        for n in range(len(joints)):
            for j in range(42):
                out[n, j] = joints[n, j] - joints[n, roots[n, j]]
                ok[n, j] = valid[n, j] and valid[n, roots[n, j]]
        return out, ok, valid

    columns = ["joints_cam_mm", "joint_valid", "root_joint_index"]
    train_rel, train_ok, _ = rel(read_manifest(train_dir, columns=columns).to_pydict())
    eval_rel, _, eval_valid = rel(read_manifest(eval_dir, columns=columns).to_pydict())
    per_joint = []
    for j in range(42):
        mean = train_rel[train_ok[:, j], j].mean(axis=0) if train_ok[:, j].any() else np.zeros(3)
        distances = [np.linalg.norm(eval_rel[n, j] - mean) for n in range(len(eval_rel)) if eval_valid[n, j]]
        if distances:
            per_joint.append(np.mean(distances))
    return float(np.mean(per_joint))


def test_the_mean_pose_baseline_scores_the_distance_to_the_training_mean_pose(synth_ih26m_shards, tmp_path):
    # With ground-truth depth, projection and back-projection cancel: MPJPE is the mean pose's own error.
    metrics = run(_config(synth_ih26m_shards.parent.parent, tmp_path, baseline="mean-pose", split="val",
                          root_source="gt"))
    expected = _independent_mean_pose_mpjpe(synth_ih26m_shards / "train", synth_ih26m_shards / "val")
    assert metrics["mpjpe"]["all"] == pytest.approx(expected, rel=1e-3)  # the manifest stores float32
    assert 20.0 < metrics["mpjpe"]["all"] < 150.0
    assert metrics["checkpoint"].startswith("mean-pose baseline of") and metrics["counts"]["samples"] == 48
    assert (tmp_path / "result" / "interhand26m_all_val_gt_mean_pose" / "metrics.json").is_file()


def test_the_mean_pose_is_the_train_split_statistics(synth_ih26m_shards):
    mean_pose = fit_mean_pose(synth_ih26m_shards / "train")
    assert mean_pose.samples == read_manifest(synth_ih26m_shards / "train", columns=["key"]).num_rows
    assert np.all(mean_pose.rel_joints_cam_mm[[20, 41]] == 0.0)  # each wrist is its hand's origin
    assert 0.0 < mean_pose.hand_presence.min() and mean_pose.hand_presence.max() < 1.0
    assert 20.0 < np.linalg.norm(mean_pose.rel_joints_cam_mm[0]) < 200.0  # a thumb tip is centimetres from the wrist


def _numpy_mean_pose(train_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean pose, offset and presence with whole numpy arrays read straight from the Parquet file's columns."""
    table = pq.read_table(train_dir / "manifest.parquet")
    joints = table["joints_cam_mm"].combine_chunks().flatten().flatten().to_numpy().astype(np.float64)
    joints = joints.reshape(-1, 42, 3)
    valid = table["joint_valid"].combine_chunks().flatten().to_numpy().reshape(-1, 42) > 0
    roots = table["root_joint_index"].combine_chunks().flatten().to_numpy().reshape(-1, 2).astype(np.int64)
    hand_type = table["hand_type"].to_numpy(zero_copy_only=False)
    own = block_root_index(roots)
    counted = valid & np.take_along_axis(valid, own, axis=1)
    rel = joints - np.take_along_axis(joints, own[..., None], axis=1)
    count = counted.sum(axis=0)
    mean = np.where(count[:, None] > 0, (rel * counted[..., None]).sum(axis=0) / np.maximum(count, 1)[:, None], 0.0)
    rows = np.arange(len(joints))
    both = (hand_type == "interacting") & valid[rows, roots[:, 0]] & valid[rows, roots[:, 1]]
    offset = (joints[rows, roots[:, 1]] - joints[rows, roots[:, 0]])[both].mean(axis=0)
    typed = table["hand_type_valid"].to_numpy() > 0
    presence = np.array([np.isin(hand_type[typed], sides).mean() for sides in (("right", "interacting"),
                                                                                ("left", "interacting"))])
    return mean, offset, presence


@pytest.mark.parametrize("chunk_rows", [5, 1 << 16])
def test_the_mean_pose_equals_a_whole_array_numpy_reference_bit_for_bit(synth_ih26m_shards, tmp_path, monkeypatch,
                                                                        chunk_rows):
    # Columns, not objects (#31): the baseline converts a chunk of rows at a time and must still equal, exactly,
    # the same statistics computed on whole numpy arrays (a chunk of 5 rows splits the 48-sample split 10 times).
    # The copy's joint_valid is redrawn so that interacting frames have both wrists valid (the offset is
    # exercised) and one joint in five is invalid (the per-joint counts differ).
    table = pq.read_table(synth_ih26m_shards / "train" / "manifest.parquet")
    valid = (np.random.default_rng(0).random((table.num_rows, 42)) > 0.2).astype(np.float32)
    valid[:, [20, 41]] = 1.0
    column = pa.FixedSizeListArray.from_arrays(pa.array(valid.ravel()), 42)
    table = table.set_column(table.schema.get_field_index("joint_valid"), table.schema.field("joint_valid"), column)
    (tmp_path / "train").mkdir()
    pq.write_table(table, tmp_path / "train" / "manifest.parquet")
    monkeypatch.setattr(baselines, "_CHUNK_ROWS", chunk_rows)
    mean_pose = baselines.fit_mean_pose(tmp_path / "train")
    mean, offset, presence = _numpy_mean_pose(tmp_path / "train")
    assert mean_pose.samples == 48 and np.abs(offset).sum() > 0 and 0 < valid.mean() < 1
    assert np.array_equal(mean_pose.rel_joints_cam_mm, mean) and np.array_equal(mean_pose.root_offset_mm, offset)
    assert np.array_equal(mean_pose.hand_presence, presence)


def test_an_interacting_frame_without_a_right_hand_anchors_the_left_hand_at_its_own_wrist():
    # An absent hand's joints are zeros (format 4, SHARD_FORMAT.md §4.4), and real interacting frames can have one
    # hand absent: anchoring the left hand at that hand's zero "wrist" + the offset put it at ~1 mm depth and its
    # back-projected error at ~100 m (the GPU check's dry run on the real frames). It then stands at its own wrist.
    mean_pose = baselines.MeanPose(rel_joints_cam_mm=np.tile([[5.0, -3.0, 2.0]], (42, 1)),
                                   root_offset_mm=np.array([40.0, 0.0, 10.0]), hand_presence=np.array([0.7, 0.6]),
                                   samples=10)
    mean_pose.rel_joints_cam_mm[[20, 41]] = 0.0
    joints = np.zeros((3, 42, 3))
    joints[:, 21:] = [10.0, 20.0, 900.0]
    joints[2, :21] = [-30.0, 15.0, 1000.0]  # the third frame's right hand is present
    roots = np.tile([20, 41], (3, 1))
    uv_z, _, _ = baselines.mean_pose_image_predictions(
        mean_pose, joints, roots, np.array(["interacting", "left", "interacting"]), np.array([0, 0, 1]),
        np.full((3, 2), 1000.0), np.full((3, 2), 300.0))
    assert np.array_equal(uv_z[0, 21:], uv_z[1, 21:])  # right absent: the same as a left-only frame
    left_wrist = np.array([-30.0, 15.0, 1000.0]) + mean_pose.root_offset_mm  # right present: right wrist + offset
    assert np.allclose(uv_z[2, 41, :2], 1000.0 * left_wrist[:2] / left_wrist[2] + 300.0)
    assert np.allclose(uv_z[1, 41, :2], 1000.0 * np.array([10.0, 20.0]) / 900.0 + 300.0)


def test_the_untrained_baseline_initialises_the_checkpoint_architecture_afresh(synth_ih26m_shards, tmp_path):
    torch.manual_seed(1)
    model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16))
    with torch.no_grad():
        model.pose_net.joint_conv_1[0].bias.fill_(3.0)  # a "trained" network unlike any fresh one
    checkpoint = save_checkpoint(tmp_path / "trained.pth.tar", model, epoch=1)
    shards = synth_ih26m_shards.parent.parent
    trained = run(_config(shards, tmp_path, checkpoint=str(checkpoint), split="test", root_source="gt", run_name="a"))
    fresh = [run(_config(shards, tmp_path, checkpoint=str(checkpoint), split="test", root_source="gt",
                         baseline="untrained", run_name=name)) for name in ("b", "c")]
    assert fresh[0]["mpjpe"] == fresh[1]["mpjpe"] and fresh[0]["mpjpe"] != trained["mpjpe"]
    assert fresh[0]["checkpoint"].startswith("untrained (seed 0) of the architecture of")


def test_eval_scores_the_train_split_and_asks_for_gt_roots_there(synth_ih26m_shards, tmp_path):
    shards = str(synth_ih26m_shards.parent.parent)
    ok = CliRunner().invoke(main, ["eval", "--shards", shards, "--run-dir", str(tmp_path), "--split", "train",
                                   "--root-source", "gt", "--oracle", "--vis", "0", "--loader-threads", "0"])
    assert ok.exit_code == 0, ok.output
    assert "interhand26m all train" in ok.output
    refused = CliRunner().invoke(main, ["eval", "--shards", shards, "--run-dir", str(tmp_path), "--split", "train",
                                        "--baseline", "mean-pose"])
    assert refused.exit_code == 1 and "--root-source gt" in refused.output and "Traceback" not in refused.output
    both = CliRunner().invoke(main, ["eval", "--shards", shards, "--run-dir", str(tmp_path), "--oracle",
                                     "--baseline", "mean-pose"])
    assert both.exit_code != 0 and "choose one" in both.output and "Traceback" not in both.output


def test_the_comparison_puts_baselines_first_and_says_whether_the_model_beat_the_mean_pose(tmp_path):
    from interhand.eval.report import format_comparison

    def metrics(source, mpjpe):
        return {"checkpoint": source, "mpjpe": {"all": mpjpe, "single": mpjpe, "interacting": None}, "mrrpe": None,
                "handedness_accuracy": 1.0}

    table = format_comparison({"run": {**metrics("output/model_dump/snapshot_3.pth.tar", 30.0), "hand_confusion": 0.45},
                               "mean": metrics("mean-pose baseline of shards/x/train", 60.0),
                               "fresh": metrics("untrained (seed 0) of the architecture of x", 90.0),
                               "floor": metrics("oracle", 3.0)})
    lines = table.splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["floor", "mean", "fresh", "run"]
    assert lines[0].split()[-1] == "confused" and lines[4].split()[-1] == "0.450"
    assert lines[1].split()[-1] == "–"  # a metrics.json written before hand confusion was scored
    assert lines[-1] == "run: 30.00 mm = 0.50x the mean pose's 60.00 mm, beat the mean-pose baseline"
    worse = format_comparison({"run": metrics("snapshot_3.pth.tar", 70.0),
                               "mean": metrics("mean-pose baseline of x", 60.0)})
    assert worse.splitlines()[-1].endswith("did NOT beat the mean-pose baseline")
    (tmp_path / "result").mkdir()
    empty = CliRunner().invoke(main, ["compare", str(tmp_path)])
    assert empty.exit_code == 1 and "no evaluation" in empty.output and "Traceback" not in empty.output


def test_the_oracle_at_a_checkpoints_heatmap_size_is_its_coarser_floor(synth_ih26m_shards, tmp_path):
    checkpoint = save_checkpoint(tmp_path / "small.pth.tar",
                                 InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)), epoch=0)
    shards = synth_ih26m_shards.parent.parent
    fine = run(_config(shards, tmp_path, oracle=True, split="val", root_source="gt"))
    coarse = run(_config(shards, tmp_path, oracle=True, checkpoint=str(checkpoint), split="val", root_source="gt"))
    assert coarse["checkpoint"] == f"oracle at the heatmap size of {checkpoint}"
    assert 2 * fine["mpjpe"]["all"] < coarse["mpjpe"]["all"] < 30.0
    assert (tmp_path / "result" / "interhand26m_all_val_gt_oracle_small").is_dir()
