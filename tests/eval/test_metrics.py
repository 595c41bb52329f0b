"""The original's metrics on small crafted sets, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from interhand.eval.evaluators import DecodedPredictions, GroundTruth, InterHandEvaluator, SingleHandEvaluator
from interhand.eval.metrics import (
    decode_joints,
    decode_rel_root,
    euclidean,
    hand_confusion,
    handedness_correct,
    joint_errors,
    mean_over_joints,
    per_joint_mpjpe,
    root_align,
    to_camera,
)
from interhand.skeleton import IH26M_JOINT_NAMES, STB_RHD_JOINT_NAMES

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
FOCAL, PRINCPT = np.array([1000.0, 1000.0]), np.array([0.0, 0.0])
BIN_MM = 400.0 / 64  # one depth bin


def test_decoding_uses_the_inverse_affine_and_the_400_mm_depth_range():
    voxel = np.array([[[16.0, 8.0, 40.0]]])
    inv = np.array([[[0.5, 0.0, 10.0], [0.0, 0.5, 20.0]]])
    np.testing.assert_allclose(decode_joints(voxel, inv), [[[42.0, 36.0, 50.0]]])


def test_back_projection_adds_each_hands_own_root_depth():
    joints = np.zeros((1, 42, 3))
    joints[0, 0] = [40.0, 40.0, 50.0]  # a right-hand joint, z relative to the right wrist
    joints[0, 21] = [10.0, 0.0, 0.0]  # a left-hand joint
    camera = to_camera(joints, np.array([[950.0, 500.0]]), np.array([[20, 41]]), FOCAL[None], PRINCPT[None])
    np.testing.assert_allclose(camera[0, 0], [40.0, 40.0, 1000.0])
    np.testing.assert_allclose(camera[0, 21], [5.0, 0.0, 500.0])


def test_per_joint_means_pool_samples_and_report_a_joint_without_samples_as_missing():
    errors = np.array([[3.0, 5.0, 7.0], [5.0, 9.0, 7.0], [10.0, 8.0, 7.0]])
    valid = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0]])
    single = np.array([True, True, False])
    means, counts = per_joint_mpjpe(errors, valid, single)
    np.testing.assert_allclose(means[:2], [4.0, 5.0])
    assert np.isnan(means[2]) and counts.tolist() == [2, 1, 0]
    all_means, _ = per_joint_mpjpe(errors, valid, np.ones(3, bool))
    np.testing.assert_allclose(all_means[:2], [6.0, 5.0])  # sample-weighted: (3 + 5 + 10) / 3
    assert mean_over_joints(all_means) == pytest.approx(5.5)  # the missing joint does not count


def test_handedness_needs_the_right_probabilities_on_both_sides():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.6], [0.2, 0.7], [0.6, 0.8], [0.6, 0.4]])
    hand_type = np.array(["right", "right", "left", "interacting", "interacting"])
    assert handedness_correct(probabilities, hand_type).tolist() == [True, False, True, True, False]


def _sample(hand_type: str, z_offset_bins: dict[int, float] | None = None, rel_root_offset_mm: float = 0.0):
    """One crafted sample whose prediction decodes exactly to its ground truth, except where told.

    The joints sit on the optical axis' neighbourhood at 1 m; voxel = (u/4, v/4, depth bin); the patch
    frame is the image frame (identity inverse affine), so every number is easy to follow.
    """
    rng = np.random.default_rng(len(hand_type))
    gt_img = np.zeros((42, 3))
    gt_img[:, :2] = rng.integers(0, 60, size=(42, 2)) * 4.0  # pixels on the voxel grid
    gt_img[:, 2] = 1000.0 + rng.integers(-8, 8, size=42) * BIN_MM  # depths on the bin grid
    for wrist in (20, 41):
        gt_img[wrist] = [0.0, 0.0, 1000.0 if wrist == 20 else 1000.0 + 4 * BIN_MM]  # wrists on the axis
    gt_cam = np.concatenate([(gt_img[:, :2] - PRINCPT) / FOCAL * gt_img[:, 2:3], gt_img[:, 2:3]], axis=1)
    voxel = np.zeros((42, 3))
    voxel[:, :2] = gt_img[:, :2] / 4.0
    own_wrist = np.where(np.arange(42) < 21, 20, 41)
    voxel[:, 2] = (gt_img[:, 2] - gt_img[own_wrist, 2]) / BIN_MM + 32.0
    for joint, bins in (z_offset_bins or {}).items():
        voxel[joint, 2] += bins
    rel_root_bins = ((gt_img[41, 2] - gt_img[20, 2]) + rel_root_offset_mm) / BIN_MM + 32.0
    valid = np.ones(42)
    if hand_type == "right":
        valid[21:] = 0
    if hand_type == "left":
        valid[:21] = 0
    probabilities = {"right": [0.9, 0.1], "left": [0.1, 0.9], "interacting": [0.9, 0.9]}[hand_type]
    prediction = (voxel, rel_root_bins, probabilities)
    truth = (gt_cam, valid, hand_type, 1, gt_img[[20, 41], 2])
    return prediction, truth


def _evaluate(samples, evaluator_class=InterHandEvaluator, names=IH26M_JOINT_NAMES, roots=(20, 41)):
    joints_img_rel = decode_joints(np.stack([s[0][0] for s in samples]), np.stack([IDENTITY] * len(samples)))
    predictions = DecodedPredictions([f"k{i}" for i in range(len(samples))], joints_img_rel,
                                     decode_rel_root(np.array([s[0][1] for s in samples])),
                                     np.array([s[0][2] for s in samples]))
    truth = GroundTruth(np.stack([s[1][0] for s in samples]), np.stack([s[1][1] for s in samples]),
                        np.array([s[1][2] for s in samples]), np.array([s[1][3] for s in samples]),
                        np.stack([FOCAL] * len(samples)), np.stack([PRINCPT] * len(samples)),
                        np.stack([s[1][4] for s in samples]), np.array([roots] * len(samples)))
    evaluator = evaluator_class(names)
    evaluator.update(predictions, truth)
    return evaluator.compute()


def test_a_perfect_prediction_scores_zero_everywhere():
    metrics, per_sample = _evaluate([_sample("right"), _sample("left"), _sample("interacting")])
    assert metrics["mpjpe"] == {"single": 0.0, "interacting": 0.0, "all": 0.0}
    assert metrics["mrrpe"] == 0.0 and metrics["handedness_accuracy"] == 1.0
    assert np.nanmax(per_sample["mean_error_mm"]) == pytest.approx(0.0, abs=1e-6)


def test_one_bin_of_depth_error_on_one_joint_is_6_25_mm_of_that_joints_mpjpe():
    # joint 0 of the right hand one bin too deep in the single-hand sample; the joint is at pixel (u, v),
    # so its back-projected x, y move with the depth too: error = 6.25 · sqrt(1 + (u/f)² + (v/f)²).
    samples = [_sample("right", {0: 1.0}), _sample("interacting")]
    metrics, _ = _evaluate(samples)
    u, v = samples[0][1][0][0, :2] / samples[0][1][0][0, 2] * FOCAL  # pixel of joint 0
    expected = BIN_MM * np.sqrt(1 + (u / FOCAL[0]) ** 2 + (v / FOCAL[1]) ** 2)
    assert metrics["mpjpe_per_joint"]["single"]["r_thumb4"] == pytest.approx(expected, abs=1e-3)
    assert metrics["mpjpe_per_joint"]["all"]["r_thumb4"] == pytest.approx(expected / 2, abs=1e-3)  # pooled with a 0
    assert metrics["mpjpe"]["single"] == pytest.approx(expected / 21, abs=1e-3)  # 21 right joints, left missing
    assert metrics["missing_joints"]["single"] == list(IH26M_JOINT_NAMES[21:])
    assert metrics["mpjpe"]["interacting"] == 0.0


def test_mrrpe_counts_interacting_frames_with_both_wrists_valid_only():
    off = _sample("interacting", rel_root_offset_mm=12.5)
    invalid_wrist = _sample("interacting", rel_root_offset_mm=50.0)
    invalid_wrist[1][1][41] = 0
    metrics, _ = _evaluate([off, invalid_wrist, _sample("right")])
    assert metrics["mrrpe"] == pytest.approx(12.5, abs=1e-4)  # the left wrist is on the optical axis
    assert metrics["counts"]["mrrpe_samples"] == 1


def test_handedness_accuracy_skips_frames_whose_hand_type_is_not_valid():
    wrong = _sample("right")
    wrong = ((wrong[0][0], wrong[0][1], [0.2, 0.9]), wrong[1])
    unlabelled = _sample("left")
    unlabelled = ((unlabelled[0][0], unlabelled[0][1], [0.9, 0.1]), unlabelled[1][:3] + (0,) + unlabelled[1][4:])
    metrics, _ = _evaluate([wrong, unlabelled, _sample("interacting")])
    assert metrics["handedness_accuracy"] == 0.5 and metrics["counts"]["handedness_samples"] == 2


def test_stb_rhd_epe_uses_the_ground_truth_hand_only_and_pools_left_and_right():
    # STB/RHD order: left hand 0..20 (wrist 0), right 21..41 (wrist 21).
    def stb_sample(hand_type, z_offset_bins=None):
        (voxel, bins, probabilities), (gt_cam, valid, _, _, depth) = _sample("interacting", z_offset_bins)
        order = np.r_[np.r_[20, 0:20], np.r_[41, 21:41]]  # IH26M indices laid out in STB order
        voxel, gt_cam = voxel[order], gt_cam[order]
        valid = np.r_[np.ones(21), np.zeros(21)] if hand_type == "left" else np.r_[np.zeros(21), np.ones(21)]
        probabilities = [0.9, 0.1] if hand_type == "right" else [0.1, 0.9]
        return (voxel, bins, probabilities), (gt_cam, valid, hand_type, 1, depth[::-1])
    left = stb_sample("left", {0: 1.0})  # IH26M joint 0 lands on STB joint 1: the left thumb tip, one bin deep
    metrics, _ = _evaluate([left, stb_sample("right")], SingleHandEvaluator, STB_RHD_JOINT_NAMES, roots=(21, 0))
    u, v = left[1][0][1, :2] / left[1][0][1, 2] * FOCAL
    expected = BIN_MM * np.sqrt(1 + (u / FOCAL[0]) ** 2 + (v / FOCAL[1]) ** 2) / 2  # pooled with the right hand's 0
    assert metrics["handedness_accuracy"] == 1.0
    assert metrics["epe_per_joint"]["wrist"] == 0.0
    assert metrics["epe_per_joint"]["thumb4"] == pytest.approx(expected, abs=1e-3)
    assert metrics["epe"] == pytest.approx(expected / 21, abs=1e-3)


def test_hand_confusion_counts_interacting_joints_nearer_the_other_hands_joint_of_the_same_name():
    gt_cam = np.zeros((2, 42, 3))
    gt_cam[..., 2] = 1000.0  # at 1 m with f = 1000 px and the principal point at 0, u = x mm
    gt_cam[:, 21:, 0] = 100.0  # every left joint 100 px right of its right twin
    pred = np.zeros((2, 42, 2))
    pred[:, 1, 0], pred[:, 2, 0], pred[:, 3, 0] = 100.0, 60.0, 40.0  # right joints 1, 2 at or nearer the left twin
    pred[:, 21:, 0] = 100.0
    pred[:, 22, 0] = 0.0  # left joint 1 on the right's
    valid = np.ones((2, 42))
    valid[0, 25] = 0  # left joint 4 not valid: right joint 4 is not counted either
    confused = hand_confusion(pred, gt_cam, valid, np.array(["interacting", "right"]), np.stack([FOCAL] * 2),
                              np.stack([PRINCPT] * 2))
    assert np.isnan(confused[1]).all()  # single-hand frames are not counted
    assert np.flatnonzero(confused[0] == 1).tolist() == [1, 2, 22]  # joint 3 is nearer its own
    assert np.isnan(confused[0, [4, 25]]).all() and np.isfinite(confused[0]).sum() == 40


def test_the_evaluator_reports_hand_confusion_as_the_share_of_counted_joints():
    swapped = _sample("interacting")
    voxel = swapped[0][0].copy()
    voxel[:21, :2], voxel[21:, :2] = swapped[0][0][21:, :2], swapped[0][0][:21, :2]  # each hand at the other's place
    metrics, _ = _evaluate([_sample("interacting"), ((voxel,) + swapped[0][1:], swapped[1]), _sample("right")])
    # both wrists sit at pixel (0, 0): a tie, never confused; the other 40 joints of the swapped frame are
    assert metrics["hand_confusion"] == pytest.approx(40 / 84, abs=1e-4)  # rounded to 4 places, as every figure
    assert metrics["counts"]["hand_confusion_joints"] == 84
    perfect, _ = _evaluate([_sample("interacting"), _sample("left")])
    assert perfect["hand_confusion"] == 0.0
    single_only, _ = _evaluate([_sample("right")])
    assert single_only["hand_confusion"] is None and single_only["counts"]["hand_confusion_joints"] == 0


def test_the_evaluators_take_decoded_predictions_only():
    """Nothing voxel-shaped reaches an evaluator: a network's output is decoded before (eval/run.py)."""
    prediction, truth = _sample("right")
    evaluator = InterHandEvaluator(IH26M_JOINT_NAMES)
    with pytest.raises(TypeError, match="DecodedPredictions"):
        evaluator.update({"joints_voxel": prediction[0][None]}, GroundTruth(*(np.zeros(1) for _ in range(8))))


@pytest.mark.parametrize("roots", [(20, 41), (41, 20), (0, 21), (21, 0)])  # IH26M and STB/RHD orders, either hand
def test_root_alignment_and_joint_errors_are_the_plain_formulas_bit_for_bit(roots):
    # root_align gathers each block's wrist and euclidean adds the squares in np.linalg.norm's order (#31: both
    # faster than the per-joint forms): the same bits, so every metric is unchanged
    rng = np.random.default_rng(2)
    joints, other = rng.normal(0, 100, (2, 7, 42, 3))
    root_index = np.tile(roots, (7, 1))
    own_wrist = np.array([roots[0] if j // 21 == roots[0] // 21 else roots[1] for j in range(42)])
    np.testing.assert_array_equal(root_align(joints, root_index), joints - joints[:, own_wrist])
    np.testing.assert_array_equal(joint_errors(joints, other), np.linalg.norm(joints - other, axis=-1))
    np.testing.assert_array_equal(euclidean(joints[..., :2]), np.linalg.norm(joints[..., :2], axis=-1))
