"""Named protocols (#30): a perfect prediction scores 0 under each; the averaging rules differ by the amounts worked
out by hand; handedness' tie rule; InterWild's hand boxes; `NAME:SUBSET` composes; every output names the protocol.
The comparison with mmpose's and InterWild's own code is bench/protocol_parity.py (docs/protocols.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import PROTOCOL_NAMES, ScoreConfig
from interhand.eval.predictions import PredictionFile, write_predictions
from interhand.eval.protocols import PROTOCOL_DEFINITIONS, hand_box_validity, parse_selection
from interhand.eval.score_file import match_rows, protocol_mask, read_rows, score_file

FOCAL, PRINCPT = 1000.0, 500.0


def _rows(hand_types: list[str], valid: np.ndarray) -> dict:
    """Frames with both hands 1 m in front of the camera, well inside a 1000 px image; `valid`: (N, 42)."""
    count = len(hand_types)
    grid = np.random.default_rng(0).normal(0, 30, (42, 3))
    joints = np.tile(grid, (count, 1, 1)) + np.array([0.0, 0.0, 1000.0])
    joints[:, 21:, 0] += 150
    return {"key": np.array([f"ih26m-test-{i:09d}" for i in range(count)], dtype=object),
            "annotation_id": np.arange(count, dtype=np.int64), "joints_cam_mm": joints, "joint_valid": valid,
            "hand_type": np.array(hand_types, dtype=object), "hand_type_valid": np.ones(count),
            "focal": np.full((count, 2), FOCAL), "princpt": np.full((count, 2), PRINCPT),
            "abs_depth_gt_mm": joints[:, [20, 41], 2], "rootnet_abs_depth_mm": joints[:, [20, 41], 2] + 50.0,
            "root_joint_index": np.tile([20.0, 41.0], (count, 1)), "width": np.full(count, 1000.0),
            "height": np.full(count, 1000.0)}


def _valid(hand_types: list[str]) -> np.ndarray:
    right = np.isin(hand_types, ("right", "interacting"))[:, None]
    left = np.isin(hand_types, ("left", "interacting"))[:, None]
    return np.concatenate([np.repeat(right, 21, 1), np.repeat(left, 21, 1)], axis=1).astype(float)


def _scored(rows: dict, joints: np.ndarray, protocol: str, probabilities: np.ndarray | None = None) -> dict:
    arrays = {"joints_cam_mm": joints} if probabilities is None else {"joints_cam_mm": joints,
                                                                      "hand_type_prob": probabilities}
    file = PredictionFile("mine", {"dataset": "interhand26m", "split": "test"}, list(rows["key"]), None, arrays,
                          "camera")
    human = set(rows["annotation_id"].tolist())
    metrics, _, _ = score_file(file, rows, match_rows(file, rows, "manifest"), protocol_mask(protocol, rows, human),
                               "interhand26m", "gt", parse_selection(protocol))
    return metrics


@pytest.mark.parametrize("protocol", [*PROTOCOL_NAMES, "all", "mmpose:interacting", "interwild:all"])
def test_a_perfect_prediction_scores_zero_under_every_protocol(protocol):
    hand_types = ["right", "left", "interacting", "interacting"]
    rows = _rows(hand_types, _valid(hand_types))
    metrics = _scored(rows, rows["joints_cam_mm"].copy(), protocol)
    expected_groups = ("interacting", "all") if protocol.endswith("interacting") else ("single", "interacting", "all")
    assert {group: metrics["mpjpe"][group] for group in expected_groups} == pytest.approx(
        dict.fromkeys(expected_groups, 0.0), abs=1e-6)
    assert metrics["mrrpe"] == pytest.approx(0.0, abs=1e-6)


def test_the_averaging_rules_differ_by_the_amounts_worked_out_by_hand():
    # Frames: R (right hand; joints 1-9 not valid; joint 0 off by 10 mm), R2 (right hand), L (left hand), I (both).
    hand_types = ["right", "right", "left", "interacting"]
    valid = _valid(hand_types)
    valid[0, 1:10] = 0
    rows = _rows(hand_types, valid)
    joints = rows["joints_cam_mm"].copy()
    joints[0, 0, 0] += 10.0
    internet, mmpose, interwild = (_scored(rows, joints, name)["mpjpe"] for name in ("internet", "mmpose",
                                                                                         "interwild:all"))
    # The original: per joint over its frames, then over the 42 joints. Joint 0 is in R, R2 (single) and I.
    assert internet["single"] == pytest.approx(5 / 42, abs=1e-4)  # joint 0: (10 + 0) / 2
    assert internet["all"] == pytest.approx(10 / 3 / 42, abs=1e-4)  # joint 0: 10 / 3
    # mmpose: one mean over every valid keypoint: single 12 + 21 + 21 = 54 keypoints, all 54 + 42 = 96.
    assert mmpose["single"] == pytest.approx(10 / 54, abs=1e-4)
    assert mmpose["all"] == pytest.approx(10 / 96, abs=1e-4)
    assert mmpose["all"] - internet["all"] == pytest.approx(10 / 96 - 10 / 126, abs=2e-4)
    # InterWild: single as the original; all = the mean of single's and interacting's 42 per-joint means.
    assert interwild["single"] == pytest.approx(5 / 42, abs=1e-4)
    assert interwild["all"] == pytest.approx(5 / 84, abs=1e-4)
    assert internet["interacting"] == mmpose["interacting"] == interwild["interacting"] == 0.0


def test_interwild_leaves_a_figure_unscored_where_a_joint_has_no_frame_as_its_np_mean_would():
    hand_types = ["right", "interacting"]  # no left-hand single frame: joints 21-41 have no single sample
    rows = _rows(hand_types, _valid(hand_types))
    interwild = _scored(rows, rows["joints_cam_mm"] + 1.0, "interwild:all")["mpjpe"]
    internet = _scored(rows, rows["joints_cam_mm"] + 1.0, "internet")["mpjpe"]
    assert interwild["single"] is None and interwild["all"] is None and interwild["interacting"] is not None
    assert internet["single"] is not None


def test_handedness_at_exactly_one_half_is_wrong_for_the_original_and_right_for_mmpose():
    rows = _rows(["right"], _valid(["right"]))
    probabilities = np.array([[0.9, 0.5]])  # original: p_l < 0.5 needed; mmpose: label p_l > 0.5 is 0 = the truth
    assert _scored(rows, rows["joints_cam_mm"], "internet", probabilities)["handedness_accuracy"] == 0.0
    assert _scored(rows, rows["joints_cam_mm"], "mmpose", probabilities)["handedness_accuracy"] == 1.0
    interwild = _scored(rows, rows["joints_cam_mm"], "interwild:all", probabilities)
    assert interwild["handedness_accuracy"] is None and "interwild" in interwild["not_scored"]["handedness_accuracy"]


def test_interwild_drops_a_hand_whose_box_is_empty_and_counts_mrrpe_on_any_frame_with_both_wrists():
    hand_types = ["interacting", "interacting", "right"]
    valid = _valid(hand_types)
    valid[1, 21:41] = 0  # frame 1: only the left wrist valid, a box of no area
    valid[2, 40:] = 1  # frame 2: a right-hand frame whose left wrist (and one more joint) is valid too
    rows = _rows(hand_types, valid)
    kept = hand_box_validity(valid, rows["joints_cam_mm"], rows["focal"], rows["princpt"],
                             np.stack([rows["width"], rows["height"]], 1))
    assert kept[1, 21:].sum() == 0 and kept[1, :21].sum() == 21 and (kept[[0, 2]] == valid[[0, 2]]).all()
    assert _scored(rows, rows["joints_cam_mm"], "interwild:all")["counts"]["mrrpe_samples"] == 2  # frames 0, 2
    assert _scored(rows, rows["joints_cam_mm"], "internet")["counts"]["mrrpe_samples"] == 2  # frames 0, 1


def test_protocols_and_subsets_compose_and_the_bare_subsets_keep_their_meaning():
    assert (parse_selection("all").protocol.name, parse_selection("all").subset) == ("internet", "all")
    assert parse_selection("interacting").protocol is PROTOCOL_DEFINITIONS["internet"]
    selection = parse_selection("mmpose:interacting")
    assert (selection.protocol.name, selection.subset, selection.folder) == ("mmpose", "interacting",
                                                                             "mmpose_interacting")
    assert parse_selection("interwild").subset == "human_annot"  # its own sample set: Test(H)
    # The stated sample set is the one scored: the protocol's own, or the subset asked for instead of it.
    assert parse_selection("interwild").definition()["sample_set"].startswith("Test(H)")
    assert parse_selection("interwild:all").definition()["sample_set"].startswith("the split's every frame")
    assert parse_selection("internet:human_annot").definition()["sample_set"].startswith(
        "the split's human-annotated frames")
    assert parse_selection("mmpose").definition()["sample_set"].startswith("every test frame")
    with pytest.raises(ValueError, match="internet, mmpose, interwild"):
        parse_selection("mmpose:everything")
    assert ScoreConfig(protocols=("mmpose:interacting", "all")).protocols == ("mmpose:interacting", "all")
    with pytest.raises(ValueError, match="protocols"):
        ScoreConfig(protocols=("openpose",))
    hand_types = ["right", "interacting", "interacting"]
    rows = _rows(hand_types, _valid(hand_types))
    joints = rows["joints_cam_mm"] + np.random.default_rng(1).normal(0, 5, rows["joints_cam_mm"].shape)
    assert _scored(rows, joints, "mmpose:interacting")["mpjpe"]["all"] == \
        _scored(rows, joints, "mmpose")["mpjpe"]["interacting"]


def test_one_table_has_a_row_per_protocol_and_every_output_states_the_protocol(synth_ih26m_shards, tmp_path):
    rows = read_rows(synth_ih26m_shards / "val")
    joints = rows["joints_cam_mm"] + np.random.default_rng(0).normal(0, 4, rows["joints_cam_mm"].shape)
    path = write_predictions(tmp_path / "mine.npz", PredictionFile(
        "", {"dataset": "interhand26m", "split": "val"}, list(rows["key"]), None, {"joints_cam_mm": joints}, "camera"))
    result = CliRunner().invoke(main, ["score", str(path), "--shards", str(synth_ih26m_shards.parent.parent),
                                       "--out-dir", str(tmp_path / "out"), "--vis", "0",
                                       "--protocol", "internet,mmpose,mmpose:interacting"])
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if line.startswith("| mine ")]
    assert [line.split("|")[2].strip() for line in table] == ["internet", "mmpose", "mmpose:interacting"]
    assert "keypoint_epe" in result.output and "Dataset.evaluate" in result.output
    metrics = json.loads((tmp_path / "out" / "mine" / "mmpose_interacting" / "metrics.json").read_text())
    assert metrics["protocol"] == "mmpose:interacting"
    assert metrics["protocol_definition"]["subset"] == "interacting"
    assert metrics["protocol_definition"]["averaging"].startswith("one mean over all valid keypoints")
    report = (tmp_path / "out" / "mine" / "mmpose" / "report.txt").read_text()
    assert "protocol mmpose:" in report and "use_gt_root_depth=True" in report
