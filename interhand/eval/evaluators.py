"""Evaluators: reset() / update(predictions, ground_truth) per chunk of samples / compute() → the original's metrics.

`InterHandEvaluator` reproduces data/InterHand2.6M/dataset.py `evaluate` (MPJPE single / interacting /
all, MRRPE, handedness accuracy) and adds one figure of ours, the hand confusion of interacting frames
(`interhand.eval.metrics.hand_confusion`); `SingleHandEvaluator` the STB/RHD `evaluate` (EPE over the ground-truth
hand's 21 joints, handedness over every sample). Ground truth comes from the shards' manifest, aligned to the
predictions by key.

Memory is bounded by the chunk, not the split (#31): `update` computes a chunk's errors, adds them to running
per-joint sums and counts, keeps a few numbers per sample (mean error, MRRPE, handedness: tens of bytes) and
returns the chunk's per-sample table for the caller to write out. The sums add sample after sample in the order
one whole-array sum would (`running_sum`), so any chunking gives bit-identical per-joint means; the other figures
are means of the kept per-sample numbers, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interhand.eval.metrics import (
    hand_confusion,
    handedness_correct,
    joint_errors,
    mean_over_joints,
    mrrpe_errors,
    root_align,
    to_camera,
)
from interhand.skeleton import JOINTS_PER_HAND, hand_block_columns

__all__ = ["DecodedPredictions", "GroundTruth", "EvaluationTotals", "InterHandEvaluator", "SingleHandEvaluator",
           "running_sum", "HAND_TYPES"]

HAND_TYPES = ("right", "left", "interacting")  # the per-sample hand-type codes 0, 1, 2
GROUPS = ("single", "interacting", "all")


@dataclass
class DecodedPredictions:
    """Predictions for N samples, decoded (the image_relative form of eval/predictions.py): what the evaluators take.
    A network's output is decoded once, right after the forward pass (eval/run.py); the other forms of a prediction
    file are converted to this one (eval/score_file.py)."""

    keys: list[str]
    joints_img_rel: np.ndarray  # (N, 42, 3) u, v original-image px, z mm relative to the joint's own wrist
    rel_root_depth_mm: np.ndarray | None  # (N,) left-minus-right wrist depth, mm; None: not predicted (no MRRPE)
    hand_type_prob: np.ndarray | None  # (N, 2) probabilities [right, left]; None: not predicted (no handedness)


@dataclass
class GroundTruth:
    """The manifest's columns for the same N samples (same order)."""

    joints_cam_mm: np.ndarray  # (N, 42, 3)
    joint_valid: np.ndarray  # (N, 42), root-masked as the original's datalist
    hand_type: np.ndarray  # (N,) str
    hand_type_valid: np.ndarray  # (N,)
    focal: np.ndarray  # (N, 2)
    princpt: np.ndarray  # (N, 2)
    abs_depth_mm: np.ndarray  # (N, 2) [right, left] wrist depth from the chosen root source
    root_joint_index: np.ndarray  # (N, 2) [right wrist, left wrist]


def running_sum(total: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """total + rows.sum(axis=0), adding row after row as one `sum(axis=0)` over all chunks would (numpy reduces a
    leading axis sequentially), so a chunked sum is bit-identical to the whole-array one."""
    if total is None:
        return rows.sum(axis=0)
    return np.concatenate([total[None], rows]).sum(axis=0)


@dataclass
class EvaluationTotals:
    """What the evaluator accumulated over every chunk: per-group per-joint error sums and counts, per-group sums
    over every valid keypoint, and the small per-sample columns (what eval/protocols.py re-averages)."""

    joint_sums: dict = field(default_factory=dict)  # group → (J,) sum of errors, mm
    joint_counts: dict = field(default_factory=dict)  # group → (J,) int
    keypoint_sums: dict = field(default_factory=dict)  # group → float, every valid keypoint's error, mm
    samples: dict = field(default_factory=dict)  # column → list of (n,) arrays, one per chunk
    has_rel_root: bool | None = None
    has_hand_type_prob: bool | None = None

    def add_joints(self, group: str, errors: np.ndarray, mask: np.ndarray) -> None:
        counted = np.where(mask, errors, 0.0)
        self.joint_sums[group] = running_sum(self.joint_sums.get(group), counted)
        self.joint_counts[group] = self.joint_counts.get(group, 0) + mask.sum(axis=0)
        self.keypoint_sums[group] = self.keypoint_sums.get(group, 0.0) + float(counted.sum())

    def joint_means(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        """(J,) means (NaN where no sample counts) and (J,) counts: `metrics.per_joint_mpjpe` over every chunk."""
        sums, counts = self.joint_sums[group], np.asarray(self.joint_counts[group])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), counts

    def add_samples(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.samples.setdefault(name, []).append(values)

    def column(self, name: str) -> np.ndarray:
        return np.concatenate(self.samples[name])


class _Evaluator:
    def __init__(self, joint_names: tuple[str, ...]):
        self.joint_names = joint_names
        self.reset()

    def reset(self) -> None:
        self.totals = EvaluationTotals()

    def update(self, predictions: DecodedPredictions, truth: GroundTruth, rows: np.ndarray | None = None) -> dict:
        """Add one chunk of samples; returns its per-sample table (`rows`: the samples' manifest rows, kept to find
        them again for the figures; default: their running number)."""
        if not isinstance(predictions, DecodedPredictions):
            raise TypeError(f"the evaluators take DecodedPredictions, not {type(predictions).__name__}")
        if len(predictions.keys) != len(truth.hand_type):
            raise ValueError(f"{len(predictions.keys)} predictions but {len(truth.hand_type)} ground-truth rows")
        totals = self.totals
        for flag, value in (("has_rel_root", predictions.rel_root_depth_mm), ("has_hand_type_prob",
                                                                               predictions.hand_type_prob)):
            given = value is not None
            if getattr(totals, flag) not in (None, given):
                raise ValueError(f"{flag[4:]}: given for some predictions and not for others")
            setattr(totals, flag, given)
        seen = sum(len(values) for values in totals.samples.get("row", []))
        rows = np.arange(seen, seen + len(predictions.keys)) if rows is None else np.asarray(rows, np.int64)
        pred_cam, errors = _decoded(predictions, truth)
        correct = _handedness_correct(predictions, truth)
        per_sample = _per_sample(predictions, truth, pred_cam, errors, correct)
        hand_code = np.select([truth.hand_type == name for name in HAND_TYPES], [0, 1, 2], -1).astype(np.int8)
        totals.add_samples(row=rows, hand_type=hand_code, mean_error_mm=per_sample["mean_error_mm"],
                           handedness_correct=correct, hand_type_valid=np.asarray(truth.hand_type_valid) > 0,
                           hand_type_prob=(np.full((len(rows), 2), np.nan) if predictions.hand_type_prob is None
                                           else np.asarray(predictions.hand_type_prob, np.float64)))
        self._accumulate(predictions, truth, errors)
        return per_sample

    def _per_sample_columns(self) -> dict:
        """compute()'s small per-sample table: manifest row, mean error, handedness, hand type."""
        if not self.totals.samples:
            raise ValueError("no samples to evaluate")
        return {"row": self.totals.column("row"), "mean_error_mm": self.totals.column("mean_error_mm"),
                "handedness_correct": self.totals.column("handedness_correct"),
                "hand_type": np.array(HAND_TYPES)[self.totals.column("hand_type")]}

    def _table(self, names, means, counts) -> tuple[dict, list[str]]:
        table = {name: (None if not np.isfinite(value) else round(float(value), 4))
                 for name, value in zip(names, means)}
        return table, [name for name, count in zip(names, counts) if count == 0]


class InterHandEvaluator(_Evaluator):
    """The InterHand2.6M metrics, exactly the original's counting and averaging (`Dataset.evaluate` in the original's
    `data/InterHand2.6M/dataset.py`)."""

    def _accumulate(self, p: DecodedPredictions, t: GroundTruth, errors: np.ndarray) -> None:
        totals, valid = self.totals, np.asarray(t.joint_valid) > 0
        single = np.isin(t.hand_type, ("right", "left"))
        for group, samples in zip(GROUPS, (single, ~single, np.ones(len(single), dtype=bool))):
            totals.add_joints(group, errors, valid & samples[:, None])
        # MRRPE of every frame with both wrists valid (the original counts the interacting ones: compute() picks
        # them; eval/protocols.py's both_wrists rule takes all)
        everywhere = np.full(len(single), "interacting", dtype=object)
        both_wrists = np.full(len(single), np.nan) if p.rel_root_depth_mm is None else mrrpe_errors(
            p.joints_img_rel, p.rel_root_depth_mm, t.abs_depth_mm[:, 0], t.focal, t.princpt, t.joints_cam_mm,
            t.joint_valid, everywhere, t.root_joint_index)
        confused = hand_confusion(p.joints_img_rel, t.joints_cam_mm, t.joint_valid, t.hand_type, t.focal, t.princpt)
        counted = np.isfinite(confused)
        totals.add_samples(mrrpe_both_wrists=both_wrists, confused_joints=np.where(counted, confused, 0).sum(1),
                           confusion_joints=counted.sum(1))

    def compute(self) -> tuple[dict, dict]:
        per_sample, totals = self._per_sample_columns(), self.totals
        hand_type = per_sample["hand_type"]
        metrics: dict = {"mpjpe": {}, "mpjpe_per_joint": {}, "missing_joints": {},
                         "counts": {"samples": len(hand_type)}}
        group_samples = {"single": int(np.isin(hand_type, ("right", "left")).sum()),
                         "interacting": int((~np.isin(hand_type, ("right", "left"))).sum()), "all": len(hand_type)}
        for group in GROUPS:
            means, counts = totals.joint_means(group)
            metrics["mpjpe"][group] = _rounded(mean_over_joints(means))
            (metrics["mpjpe_per_joint"][group],
             metrics["missing_joints"][group]) = self._table(self.joint_names, means, counts)
            metrics["counts"][f"{group}_samples"] = group_samples[group]
            metrics["counts"][f"{group}_joint_errors"] = int(counts.sum())
        mrrpe = totals.column("mrrpe_both_wrists")
        counted = np.isfinite(mrrpe) & (hand_type == "interacting")
        metrics["mrrpe"] = _rounded(float(mrrpe[counted].mean())) if counted.any() else None
        metrics["counts"]["mrrpe_samples"] = int(counted.sum())
        correct = per_sample["handedness_correct"]
        valid = totals.column("hand_type_valid") & np.isfinite(correct)
        metrics["handedness_accuracy"] = _rounded(float(correct[valid].mean())) if valid.any() else None
        metrics["counts"]["handedness_samples"] = int(valid.sum())
        confused, joints = int(totals.column("confused_joints").sum()), int(totals.column("confusion_joints").sum())
        metrics["hand_confusion"] = _rounded(confused / joints) if joints else None
        metrics["counts"]["hand_confusion_joints"] = joints
        return metrics, per_sample


class SingleHandEvaluator(_Evaluator):
    """STB / RHD: EPE over the ground-truth hand's 21 joints (right and left pooled), as the original."""

    def _accumulate(self, p: DecodedPredictions, t: GroundTruth, errors: np.ndarray) -> None:
        # The ground-truth hand's block: 0..20 or 21..41 depending on the order and the hand.
        own_root = np.where(t.hand_type == "right", t.root_joint_index[:, 0], t.root_joint_index[:, 1])
        columns = hand_block_columns(own_root)
        hand_errors = np.take_along_axis(errors, columns, axis=1)
        hand_valid = np.take_along_axis(np.asarray(t.joint_valid), columns, axis=1) > 0
        self.totals.add_joints("single", hand_errors, hand_valid)

    def compute(self) -> tuple[dict, dict]:
        per_sample = self._per_sample_columns()
        means, counts = self.totals.joint_means("single")
        names = tuple(name[2:] for name in self.joint_names[:JOINTS_PER_HAND])  # the hand's joints, side-free
        table, missing = self._table(names, means, counts)
        epe = _rounded(mean_over_joints(means))
        correct = per_sample["handedness_correct"]
        scored = np.isfinite(correct)
        metrics = {"epe": epe, "mpjpe": {"single": epe, "interacting": None, "all": epe}, "epe_per_joint": table,
                   "missing_joints": {"single": missing}, "mrrpe": None,
                   "handedness_accuracy": _rounded(float(correct[scored].mean())) if scored.any() else None,
                   "counts": {"samples": len(correct), "joint_errors": int(counts.sum()),
                              "handedness_samples": int(scored.sum())}}
        return metrics, per_sample


def _decoded(p: DecodedPredictions, t: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """The predicted camera joints before alignment, and the per-joint errors of the aligned sets."""
    pred_cam = to_camera(p.joints_img_rel, t.abs_depth_mm, t.root_joint_index, t.focal, t.princpt)
    errors = joint_errors(root_align(pred_cam, t.root_joint_index), root_align(t.joints_cam_mm, t.root_joint_index))
    return pred_cam, errors


def _handedness_correct(p: DecodedPredictions, t: GroundTruth) -> np.ndarray:
    """(N,) 1.0 right, 0.0 wrong, NaN where no hand type was predicted."""
    if p.hand_type_prob is None:
        return np.full(len(p.keys), np.nan)
    return handedness_correct(p.hand_type_prob, t.hand_type).astype(np.float64)


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def _per_sample(p: DecodedPredictions, t: GroundTruth, pred_cam, errors, correct) -> dict:
    """One chunk's per-sample table (per_sample.parquet's columns, eval/score_file.py `PER_SAMPLE_SCHEMA`)."""
    valid = np.asarray(t.joint_valid) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        sample_error = np.where(valid.any(1), (errors * valid).sum(1) / np.maximum(valid.sum(1), 1), np.nan)
    return {"key": list(p.keys), "joints_cam_mm": pred_cam.astype(np.float32),
            "mean_error_mm": sample_error.astype(np.float32), "handedness_correct": correct,
            "hand_type": np.asarray(t.hand_type)}
