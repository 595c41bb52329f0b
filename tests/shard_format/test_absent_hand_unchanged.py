"""Format 4 stores an absent hand as zeros (SHARD_FORMAT.md §4.4) where format 3 kept the source's numbers; nothing a
model or a metric uses may change with it. The same samples, read from the sources (the release's numbers, as
format 3 stored them) and through the `.ann` codec (zeros), give the same training targets under the loaders'
masks, with and without a flip, and the same InterHand2.6M metrics for the same predictions: on the four real
frames (a right and a left frame, whose absent hands hold (-3670, -2152) px and 657.8 mm) and on synthetic val."""

from __future__ import annotations

import numpy as np
import pytest

from interhand.config import PreprocessConfig
from interhand.eval.evaluators import DecodedPredictions, GroundTruth, InterHandEvaluator
from interhand.loaders.augment import PARAM_COLOUR, PARAM_FLIP, PARAM_ROT_DEG, PARAM_SCALE
from interhand.loaders.batch import targets_from_records
from interhand.preprocess.sources import open_source
from interhand.shard_format.ann_codec import HAND_ZEROED, decode_ann_records, encode_ann_records
from interhand.shard_format.sample import Sample
from interhand.skeleton import IH26M_JOINT_NAMES


def _fields(root, split: str) -> tuple[dict, dict]:
    """(format 4's `.ann` fields, the same with the sources' numbers put back: format 3's) of every sample."""
    reading = open_source(PreprocessConfig(dataset="interhand26m", data=str(root), split=split))
    samples = [record for record in reading.records() if isinstance(record, Sample)]
    stored = decode_ann_records(encode_ann_records(samples))
    as_read = {**stored, **{name: np.stack([getattr(sample, name) for sample in samples]).astype(np.float32)
                            for name in HAND_ZEROED}}
    assert not stored["hand_present"].all(), "no absent hand: nothing to compare"
    assert any(not np.array_equal(stored[name], as_read[name]) for name in HAND_ZEROED), "the zeros changed nothing"
    return stored, as_read


@pytest.fixture(scope="module", params=["real-test", "synthetic-val"])
def fields(request, real_ih26m_root, synth_ih26m_root) -> tuple[dict, dict]:
    return _fields(real_ih26m_root, "test") if request.param == "real-test" else _fields(synth_ih26m_root, "val")


def _params(count: int, flip: bool) -> np.ndarray:
    params = np.zeros((count, 8), np.float32)
    params[:, PARAM_SCALE], params[:, PARAM_ROT_DEG], params[:, PARAM_FLIP] = 1.1, 20.0, float(flip)
    params[:, PARAM_COLOUR] = 1.0
    return params


@pytest.mark.parametrize("flip", [False, True])
def test_training_targets_are_the_same_under_their_masks(fields, flip):
    stored, as_read = fields
    params = _params(len(stored["joints_img"]), flip)
    (zeros, _), (numbers, _) = (targets_from_records(values, params) for values in (stored, as_read))
    np.testing.assert_array_equal(zeros.joint_valid, numbers.joint_valid)
    np.testing.assert_array_equal(zeros.root_valid, numbers.root_valid)
    np.testing.assert_array_equal(zeros.hand_type, numbers.hand_type)
    valid = zeros.joint_valid > 0
    assert valid.any()
    np.testing.assert_array_equal(zeros.joints_voxel[valid], numbers.joints_voxel[valid])
    counted = zeros.root_valid > 0
    np.testing.assert_array_equal(zeros.rel_root_depth_bins[counted], numbers.rel_root_depth_bins[counted])


def test_metrics_are_the_same_for_the_same_predictions(fields):
    stored, as_read = fields
    count = len(stored["joints_img"])
    rng = np.random.default_rng(0)
    predictions = DecodedPredictions(
        [f"k{index}" for index in range(count)],
        (stored["joints_img"] * [1, 1, 0] + rng.normal(0, 5, (count, 42, 3))).astype(np.float32),
        rng.normal(0, 30, count), rng.random((count, 2)))
    results = []
    for values in (stored, as_read):
        hand_type = np.where(values["hand_type_onehot"].all(1), "interacting",
                             np.where(values["hand_type_onehot"][:, 0] > 0, "right", "left"))
        evaluator = InterHandEvaluator(IH26M_JOINT_NAMES)
        evaluator.update(predictions, GroundTruth(
            values["joints_cam_mm"], values["joint_valid"], hand_type, values["hand_type_valid"][:, 0],
            values["focal"], values["princpt"], values["abs_depth_gt_mm"],
            values["root_joint_index"].astype(np.int64)))
        results.append(evaluator.compute()[0])
    assert results[0] == results[1]
    assert results[0]["mpjpe"]["all"] is not None and results[0]["counts"]["single_samples"] > 0
