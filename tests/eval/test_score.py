"""`interhand score`: every file form and format, the protocols, missing predictions, each refusal, the comparison,
and eval's own predictions.parquet re-scored to exactly its metrics."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import EVAL_LOADER, EvalConfig, ModelConfig, ScoreConfig
from interhand.eval.predictions import PredictionFile, PredictionFileError, read_predictions, write_predictions
from interhand.eval.run import run as eval_run
from interhand.eval.score_file import match_rows, read_rows
from interhand.eval.score_job import run
from interhand.model import InterNet, save_checkpoint

METRIC_FIELDS = ("mpjpe", "mpjpe_per_joint", "missing_joints", "counts", "mrrpe", "handedness_accuracy",
                 "hand_confusion", "root_source", "checkpoint", "dataset", "annot_subset", "split", "protocol")



def _noisy_camera(rows: dict, seed: int = 0) -> np.ndarray:
    """The ground-truth camera joints plus a few mm of noise: a prediction with a known error."""
    return rows["joints_cam_mm"] + np.random.default_rng(seed).normal(0.0, 4.0, rows["joints_cam_mm"].shape)


def _hand_prob(rows: dict) -> np.ndarray:
    return np.stack([np.isin(rows["hand_type"], ("right", "interacting")),
                     np.isin(rows["hand_type"], ("left", "interacting"))], axis=1).astype(float)


def _file(rows: dict, arrays: dict, form: str, by: str = "key", **metadata) -> PredictionFile:
    keys = list(rows["key"]) if by == "key" else None
    ids = rows["annotation_id"] if by == "annotation_id" else None
    return PredictionFile("", {"dataset": "interhand26m", "split": "val", **metadata}, keys, ids, arrays, form)


def _roots(rows: dict) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(len(rows["key"]))
    roots = rows["root_joint_index"].astype(int)
    own = np.where(np.arange(42)[None] < 21, roots[:, :1], roots[:, 1:])  # IH26M: right block first
    return index, own


def _forms(rows: dict, joints_cam: np.ndarray) -> dict[str, tuple[dict, str]]:
    """The same camera joints in each of the four forms."""
    index, own = _roots(rows)
    roots = rows["root_joint_index"].astype(int)
    wrists = np.take_along_axis(joints_cam, own[..., None], axis=1)
    uv = joints_cam[..., :2] / joints_cam[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    rel_root_cam = joints_cam[index, roots[:, 1]] - joints_cam[index, roots[:, 0]]
    prob = _hand_prob(rows)
    return {"camera": ({"joints_cam_mm": joints_cam, "hand_type_prob": prob}, "camera"),
            "camera_relative": ({"joints_cam_rel_mm": joints_cam - wrists, "rel_root_cam_mm": rel_root_cam,
                                 "hand_type_prob": prob}, "camera_relative"),
            "image_depth": ({"joints_img_px": uv, "joints_depth_mm": joints_cam[..., 2], "hand_type_prob": prob},
                            "image_depth")}


def _expected_mpjpe(rows: dict, joints_cam: np.ndarray) -> tuple[float, float]:
    """An independent MPJPE (all) and MRRPE: per-hand root alignment, per-joint means over valid joints, their mean."""
    index, own = _roots(rows)
    roots = rows["root_joint_index"].astype(int)

    def aligned(joints):
        return joints - np.take_along_axis(joints, own[..., None], axis=1)

    errors = np.linalg.norm(aligned(joints_cam) - aligned(rows["joints_cam_mm"]), axis=-1)
    valid = rows["joint_valid"] > 0
    per_joint = [errors[valid[:, j], j].mean() for j in range(42) if valid[:, j].any()]
    both = (rows["hand_type"] == "interacting") & valid[index, roots[:, 0]] & valid[index, roots[:, 1]]
    relative = (joints_cam[index, roots[:, 1]] - joints_cam[index, roots[:, 0]]) - \
        (rows["joints_cam_mm"][index, roots[:, 1]] - rows["joints_cam_mm"][index, roots[:, 0]])
    return float(np.mean(per_joint)), float(np.linalg.norm(relative[both], axis=1).mean())


def _score(paths, shards_root, out, *options) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["score", *map(str, paths), "--shards", str(shards_root), "--out-dir", str(out),
                                       "--vis", "0", *options])
    return result.exit_code, result.output


# --- forms and formats ---

@pytest.mark.parametrize("suffix", [".parquet", ".json", ".npz"])
@pytest.mark.parametrize("form", ["camera", "camera_relative", "image_depth"])
def test_each_form_in_each_format_scores_the_known_error(shards_root, val_rows, tmp_path, form, suffix):
    joints = _noisy_camera(val_rows)
    arrays, name = _forms(val_rows, joints)[form]
    path = write_predictions(tmp_path / f"p{suffix}", _file(val_rows, arrays, name))
    assert read_predictions(path).form == form
    metrics = run(ScoreConfig(shards=str(shards_root), out_dir=str(tmp_path / "out"), vis=0), [path])["p"]["all"]
    mpjpe, mrrpe = _expected_mpjpe(val_rows, joints.astype(np.float32).astype(np.float64))
    assert metrics["mpjpe"]["all"] == pytest.approx(mpjpe, abs=2e-3) and 3.0 < mpjpe < 12.0
    assert metrics["mrrpe"] == pytest.approx(mrrpe, abs=2e-3) and metrics["counts"]["mrrpe_samples"] == 4
    assert metrics["handedness_accuracy"] == 1.0 and metrics["counts"]["missing_predictions"] == 0
    assert metrics["form"] == form and metrics["counts"]["samples"] == len(val_rows["key"])


def test_image_relative_takes_the_wrist_depths_from_the_root_source(shards_root, val_rows, tmp_path):
    joints = val_rows["joints_cam_mm"]
    index, own = _roots(val_rows)
    roots = val_rows["root_joint_index"].astype(int)
    uv = joints[..., :2] / joints[..., 2:3] * val_rows["focal"][:, None] + val_rows["princpt"][:, None]
    arrays = {"joints_img_px": uv, "joints_rel_depth_mm": joints[..., 2] - np.take_along_axis(joints[..., 2], own, 1),
              "rel_root_depth_mm": joints[index, roots[:, 1], 2] - joints[index, roots[:, 0], 2]}
    path = write_predictions(tmp_path / "p.npz", _file(val_rows, arrays, "image_relative", by="annotation_id"))
    gt = run(ScoreConfig(shards=str(shards_root), out_dir=str(tmp_path / "gt"), root_source="gt", vis=0),
             [path])["p"]["all"]
    assert gt["mpjpe"]["all"] < 1e-3 and gt["mrrpe"] < 1e-3 and gt["root_source"] == "gt"
    assert gt["handedness_accuracy"] is None and "handedness_accuracy" in gt["not_scored"]
    rootnet = run(ScoreConfig(shards=str(shards_root), out_dir=str(tmp_path / "rn"), vis=0), [path])["p"]["all"]
    # RootNet's depth error rescales x, y
    assert rootnet["root_source"] == "rootnet" and 0.01 < rootnet["mpjpe"]["all"] < 2.0


def test_a_relative_pose_without_a_relative_root_scores_mpjpe_and_says_mrrpe_is_not_scored(shards_root, val_rows,
                                                                                        tmp_path):
    arrays, _ = _forms(val_rows, _noisy_camera(val_rows))["camera_relative"]
    arrays = {name: value for name, value in arrays.items() if name != "rel_root_cam_mm"}
    path = write_predictions(tmp_path / "p.json", _file(val_rows, arrays, "camera_relative"))
    code, output = _score([path], shards_root, tmp_path / "out")
    assert code == 0, output
    metrics = json.loads((tmp_path / "out" / "p" / "all" / "metrics.json").read_text())
    assert metrics["mrrpe"] is None and metrics["mpjpe"]["all"] > 1.0
    assert "mrrpe not scored" in (tmp_path / "out" / "p" / "all" / "report.txt").read_text()


# --- eval's own file ---

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pth.tar", model, epoch=3)


@pytest.mark.parametrize("changes", [{"root_source": "rootnet"},
                                     {"root_source": "gt", "baseline": "mean-pose", "split": "test"}],
                         ids=["network-rootnet", "mean-pose-gt"])
def test_scoring_an_evals_predictions_file_reproduces_its_metrics_exactly(shards_root, tiny_checkpoint, tmp_path,
                                                                          changes):
    config = EvalConfig(shards=str(shards_root), run_dir=str(tmp_path), loader=replace(EVAL_LOADER, threads=0), vis=0,
                        run_name="run",
                        checkpoint=str(tiny_checkpoint), **{"split": "val", **changes})
    evaluated = eval_run(config)
    path = tmp_path / "result" / "run" / "predictions.parquet"
    code, output = _score([path], shards_root, tmp_path / "score")
    assert code == 0, output
    scored = json.loads((tmp_path / "score" / "run" / "all" / "metrics.json").read_text())
    assert {name: scored[name] for name in METRIC_FIELDS} == {name: evaluated[name] for name in METRIC_FIELDS}
    assert evaluated["mpjpe"]["all"] > 10.0  # far from the ground truth: a real check of the arithmetic
    assert {p.name for p in (tmp_path / "score" / "run" / "all").iterdir()} == {
        "metrics.json", "report.txt", "per_sample.parquet", "per_joint_error.png", "error_by_hand_type.png"}


def test_an_stb_evals_predictions_rescore_to_the_same_epe(synth_stb_shards, tmp_path):
    root = synth_stb_shards.parent.parent
    evaluated = eval_run(EvalConfig(shards=str(root), run_dir=str(tmp_path),
                                    loader=replace(EVAL_LOADER, threads=0), vis=0, run_name="stb",
                                    dataset="stb", split="test", oracle=True, root_source="gt"))
    code, output = _score([tmp_path / "result" / "stb" / "predictions.parquet"], root, tmp_path / "score")
    assert code == 0, output
    scored = json.loads((tmp_path / "score" / "stb" / "all" / "metrics.json").read_text())
    assert scored["epe"] == evaluated["epe"] and scored["epe_per_joint"] == evaluated["epe_per_joint"]
    assert 0.5 < scored["epe"] < 10.0 and scored["counts"]["samples"] == 6


# --- protocols and missing predictions ---

def test_protocols_select_interacting_frames_and_the_h_subset_of_an_aid_list(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    path = write_predictions(tmp_path / "p.parquet", _file(val_rows, arrays, form))
    chosen = [int(i) for i in val_rows["annotation_id"][:5]]
    (tmp_path / "ids.txt").write_text("\n".join(map(str, chosen + [999_999_998])) + "\n")
    code, output = _score([path], shards_root, tmp_path / "out", "--protocol", "all,interacting",
                          "--protocol", "human_annot", "--aid-list", str(tmp_path / "ids.txt"))
    assert code == 0, output
    metrics = {p: json.loads((tmp_path / "out" / "p" / p / "metrics.json").read_text()) for p in
               ("all", "interacting", "human_annot")}
    assert metrics["interacting"]["counts"]["samples"] == int((val_rows["hand_type"] == "interacting").sum()) > 0
    assert metrics["interacting"]["counts"]["single_samples"] == 0
    assert metrics["human_annot"]["counts"]["samples"] == 5
    assert metrics["human_annot"]["counts"]["human_ids_not_in_shards"] == 1
    assert metrics["all"]["counts"]["samples"] == len(val_rows["key"])
    table = (tmp_path / "out" / "comparison.txt").read_text()
    assert table.count("| p |") == 3 and "| human_annot |" in output
    assert {f"comparison_{p}.png" for p in metrics} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_the_h_subset_list_is_read_from_the_dataset_folder_given_by_data(shards_root, synth_ih26m_shards,
                                                                         synth_ih26m_root, tmp_path):
    rows = read_rows(synth_ih26m_shards / "test")
    arrays, form = _forms(rows, _noisy_camera(rows))["camera"]
    path = write_predictions(tmp_path / "p.json", _file(rows, arrays, form, split="test"))
    code, output = _score([path], shards_root, tmp_path / "out", "--protocol", "human_annot")
    assert code == 1 and "names only ('InterHand2.6M')" in output and "pass --data" in output  # no path recorded
    metrics = run(ScoreConfig(shards=str(shards_root), out_dir=str(tmp_path / "out"), vis=0, data=str(synth_ih26m_root),
                              protocols=("human_annot",)), [path])["p"]["human_annot"]
    human = {int(line) for line in (synth_ih26m_root / "aid_human_annot_test.txt").read_text().split()}
    in_h = int(np.isin(rows["annotation_id"], list(human)).sum())
    assert metrics["counts"]["samples"] == in_h and 0 < in_h < len(rows["key"])
    code, output = _score([path], shards_root, tmp_path / "out", "--protocol", "human_annot", "--data", str(tmp_path))
    assert code == 1 and "aid_human_annot_test.txt does not exist" in output and "--aid-list" in output
    code, output = _score([path], shards_root, tmp_path / "out", "--protocol", "interacting")
    assert code == 1 and "protocol interacting selects none of its 48 samples" in output


def test_missing_predictions_are_counted_and_named_never_skipped_silently(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    keep = np.arange(len(val_rows["key"])) >= 3
    rows = {name: values[keep] for name, values in val_rows.items()}
    path = write_predictions(tmp_path / "p.parquet", _file(rows, {k: v[keep] for k, v in arrays.items()}, form))
    code, output = _score([path], shards_root, tmp_path / "out")
    assert code == 0, output
    metrics = json.loads((tmp_path / "out" / "p" / "all" / "metrics.json").read_text())
    assert metrics["counts"]["missing_predictions"] == 3 and metrics["counts"]["samples"] == len(val_rows["key"]) - 3
    assert metrics["missing_prediction_keys"] == list(val_rows["key"][:3])
    report = (tmp_path / "out" / "p" / "all" / "report.txt").read_text()
    assert "3 WITHOUT a prediction" in report and val_rows["key"][0] in report
    assert "| 3 |" in output


def test_several_files_are_compared_side_by_side(shards_root, val_rows, tmp_path):
    paths = []
    for name, seed in (("noisy", 0), ("noisier", 1)):
        arrays, form = _forms(val_rows, val_rows["joints_cam_mm"] + np.random.default_rng(seed).normal(
            0.0, 4.0 * (seed + 1), val_rows["joints_cam_mm"].shape))["camera"]
        paths.append(write_predictions(tmp_path / f"{name}.npz", _file(val_rows, arrays, form, name=name)))
    code, output = _score(paths, shards_root, tmp_path / "out")
    assert code == 0, output
    rows = (tmp_path / "out" / "comparison.csv").read_text().splitlines()
    assert (rows[0].startswith("predictions,protocol")
            and [row.split(",")[0] for row in rows[1:]] == ["noisy", "noisier"])
    mpjpe = [float(row.split(",")[5]) for row in rows[1:]]
    assert mpjpe[0] < mpjpe[1]
    assert (tmp_path / "out" / "comparison_all.png").stat().st_size > 10_000


# --- refusals: one line naming the file and the samples ---

def test_a_split_folder_given_as_shards_says_which_folder_to_give(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    path = write_predictions(tmp_path / "p.parquet", _file(val_rows, arrays, form))
    code, output = _score([path], shards_root / "interhand26m" / "all" / "val", tmp_path / "out")
    assert code == 2 and f"use --shards {shards_root}" in output


def _refused(path, shards_root, tmp_path, *options) -> str:
    code, output = _score([path], shards_root, tmp_path / "out", *options)
    assert code == 1 and "Traceback" not in output and str(path) in output, output
    return output


def test_duplicate_ids_are_one_error_naming_them_and_their_count(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    twice = np.r_[np.arange(len(val_rows["key"])), [0, 1]]
    rows = {name: values[twice] for name, values in val_rows.items()}
    path = write_predictions(tmp_path / "p.parquet", _file(rows, {k: v[twice] for k, v in arrays.items()}, form))
    output = _refused(path, shards_root, tmp_path)
    assert "more than once" in output and val_rows["key"][0] in output and "(2 in all)" in output


def test_unknown_ids_are_one_error_naming_the_first_few_and_the_count(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    rows = dict(val_rows, annotation_id=val_rows["annotation_id"] + 10_000_000)
    path = write_predictions(tmp_path / "p.json", _file(rows, arrays, form, by="annotation_id"))
    output = _refused(path, shards_root, tmp_path)
    assert "not in" in output and str(rows["annotation_id"][0]) in output and f"({len(rows['key'])} in all)" in output


def test_a_file_for_another_split_or_dataset_is_refused(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    path = write_predictions(tmp_path / "p.parquet", _file(val_rows, arrays, form, split="test"))
    assert "predictions for interhand26m/test, but scoring interhand26m/val" in _refused(
        path, shards_root, tmp_path, "--split", "val")
    unnamed = tmp_path / "unnamed.npz"
    np.savez(unnamed, key=np.array(list(val_rows["key"])), joints_cam_mm=arrays["joints_cam_mm"])
    assert "does not name its dataset and split" in _refused(unnamed, shards_root, tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "joints_img_px": a["joints_cam_mm"][..., :2]}, "are not one form"),
    (lambda a: {"joints_cam_mm": a["joints_cam_mm"][:, :21]}, "has shape"),
    (lambda a: {"joint_cam_mm": a["joints_cam_mm"]}, "unknown fields ['joint_cam_mm']"),
], ids=["two-forms", "wrong-shape", "typo"])
def test_a_malformed_file_is_one_line_saying_what_is_wrong(shards_root, val_rows, tmp_path, change, message):
    arrays, _ = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    columns = {"key": pa.array(list(val_rows["key"]))}
    for name, value in change(arrays).items():
        columns[name] = pa.array(value.reshape(len(value), -1).tolist())
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table(columns).replace_schema_metadata({"dataset": "interhand26m", "split": "val"}), path)
    assert message in _refused(path, shards_root, tmp_path)


def test_a_non_finite_prediction_at_a_valid_joint_names_the_sample(shards_root, val_rows, tmp_path):
    joints = _noisy_camera(val_rows)
    sample = int(np.flatnonzero((val_rows["joint_valid"] > 0).any(1))[2])
    joints[sample, np.flatnonzero(val_rows["joint_valid"][sample] > 0)[0]] = np.nan
    invalid = np.argwhere(val_rows["joint_valid"] == 0)
    joints[tuple(invalid[0])] = np.nan  # never scored: accepted
    arrays, form = _forms(val_rows, joints)["camera"]
    path = write_predictions(tmp_path / "p.parquet", _file(val_rows, arrays, form))
    output = _refused(path, shards_root, tmp_path)
    assert "non-finite" in output and val_rows["key"][sample] in output and "(1 in all)" in output


def test_keys_and_annotation_ids_that_disagree_are_refused(shards_root, val_rows, tmp_path):
    arrays, form = _forms(val_rows, _noisy_camera(val_rows))["camera"]
    both = _file(val_rows, arrays, form)
    both.annotation_ids = val_rows["annotation_id"][::-1].copy()
    output = _refused(write_predictions(tmp_path / "p.npz", both), shards_root, tmp_path)
    assert "key and annotation_id name different samples" in output and val_rows["key"][0] in output


def test_a_json_entry_without_a_field_or_an_unreadable_file_is_one_line(shards_root, val_rows, tmp_path):
    entries = [{"key": key, "joints_cam_mm": joints.tolist()} for key, joints in
               zip(val_rows["key"], _noisy_camera(val_rows))]
    del entries[3]["joints_cam_mm"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"dataset": "interhand26m", "split": "val", "predictions": entries}))
    assert "predictions[3] lacks ['joints_cam_mm']" in _refused(path, shards_root, tmp_path)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert "cannot be read as parquet" in _refused(broken, shards_root, tmp_path)


def test_the_score_benchmark_runs_and_ends_with_one_json_line():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "bench/bench_score.py", "--samples", "300", "--json-samples", "100",
                             "--rounds", "1"], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures["ratio_to_evaluator"]) == {"baseline: evaluator alone", "camera, parquet",
                                                  "image_relative, parquet", "camera, npz", "camera, json"}
    assert all(rate > 0 for rate in figures["samples_per_s"].values())


def test_on_h_shards_every_sample_is_in_the_h_protocol_and_the_file_names_the_subset(synth_ih26m_root, tmp_path):
    from helpers import make_shards

    split_dir = make_shards(tmp_path / "shards", synth_ih26m_root, annot_subset="human_annot", split="test")
    rows = read_rows(split_dir)
    arrays, form = _forms(rows, _noisy_camera(rows))["camera"]
    path = write_predictions(tmp_path / "p.parquet",
                             _file(rows, arrays, form, split="test", annot_subset="human_annot"))
    metrics = run(ScoreConfig(shards=str(tmp_path / "shards"), out_dir=str(tmp_path / "out"), vis=0,
                              protocols=("all", "human_annot")), [path])["p"]
    assert metrics["human_annot"]["counts"]["samples"] == metrics["all"]["counts"]["samples"] == len(rows["key"]) > 0
    assert metrics["human_annot"]["annot_subset"] == "human_annot"


def test_matching_finds_each_row_and_names_repeats_before_unknown_ids_whatever_the_mix(val_rows):
    # match_rows looks ids up by hash and counts the rows found (#31: np.unique sorted every id first); the errors
    # are the sorted path's: repeats, in the order they first appear, before unknown ids; a repeated unknown id too
    keys = list(val_rows["key"])

    def matched(ids):
        return match_rows(PredictionFile("p.parquet", {}, ids, None, {}, "camera"), val_rows, "m")

    order = np.random.default_rng(3).permutation(len(keys))
    assert matched([keys[i] for i in order]).tolist() == order.tolist()
    for ids, said in (([keys[5], keys[1], keys[5], keys[1]], f"more than once: {keys[5]}, {keys[1]} (2 in all)"),
                      ([keys[0], "nope", keys[0]], f"more than once: {keys[0]} (1 in all)"),
                      (["nope", keys[0], "nope"], "more than once: nope (1 in all)"),
                      ([keys[0], "nope"], "ids not in m: nope (1 in all)")):
        with pytest.raises(PredictionFileError, match=re.escape(said)):
            matched(ids)
