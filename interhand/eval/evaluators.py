"""Evaluators: reset() / update(predictions, ground_truth) / compute() → the original's metrics.

`InterHandEvaluator` reproduces data/InterHand2.6M/dataset.py `evaluate` (MPJPE single / interacting /
all, MRRPE, handedness accuracy) and adds one figure of ours, the hand confusion of interacting frames
(`interhand.eval.metrics.hand_confusion`); `SingleHandEvaluator` the STB/RHD `evaluate` (EPE over the ground-truth
hand's 21 joints, handedness over every sample). Both also return a per-sample table for the prediction
files and the plots. Ground truth comes from the shards' manifest, aligned to the predictions by key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interhand.eval.metrics import (
    hand_confusion,
    handedness_correct,
    joint_errors,
    mean_over_joints,
    mrrpe_errors,
    per_joint_mpjpe,
    root_align,
    to_camera,
)
from interhand.skeleton import JOINTS_PER_HAND, hand_block_columns

__all__ = ["DecodedPredictions", "GroundTruth", "InterHandEvaluator", "SingleHandEvaluator"]


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


class _Evaluator:
    def __init__(self, joint_names: tuple[str, ...]):
        self.joint_names = joint_names
        self.reset()

    def reset(self) -> None:
        self._predictions: list[DecodedPredictions] = []
        self._truths: list[GroundTruth] = []

    def update(self, predictions: DecodedPredictions, truth: GroundTruth) -> None:
        if not isinstance(predictions, DecodedPredictions):
            raise TypeError(f"the evaluators take DecodedPredictions, not {type(predictions).__name__}")
        if len(predictions.keys) != len(truth.hand_type):
            raise ValueError(f"{len(predictions.keys)} predictions but {len(truth.hand_type)} ground-truth rows")
        self._predictions.append(predictions)
        self._truths.append(truth)

    def _stacked(self) -> tuple[DecodedPredictions, GroundTruth]:
        if not self._predictions:
            raise ValueError("no samples to evaluate")
        p = DecodedPredictions(sum((x.keys for x in self._predictions), []),
                               *(_concatenated([getattr(x, f) for x in self._predictions], f)
                                 for f in ("joints_img_rel", "rel_root_depth_mm", "hand_type_prob")))
        t = GroundTruth(*(np.concatenate([getattr(x, f) for x in self._truths])
                          for f in GroundTruth.__dataclass_fields__))
        return p, t

    def _decoded(self, p: DecodedPredictions, t: GroundTruth):
        """Joints (image px, mm) and relative root depth (mm), predicted camera joints before alignment, per-joint
        errors of the aligned sets."""
        pred_img, rel_root_mm = p.joints_img_rel, p.rel_root_depth_mm
        pred_cam = to_camera(pred_img, t.abs_depth_mm, t.root_joint_index, t.focal, t.princpt)
        errors = joint_errors(root_align(pred_cam, t.root_joint_index), root_align(t.joints_cam_mm, t.root_joint_index))
        return pred_img, rel_root_mm, pred_cam, errors

    def _table(self, names, means, counts) -> tuple[dict, list[str]]:
        table = {name: (None if not np.isfinite(value) else round(float(value), 4))
                 for name, value in zip(names, means)}
        return table, [name for name, count in zip(names, counts) if count == 0]


class InterHandEvaluator(_Evaluator):
    """The InterHand2.6M metrics, exactly the original's counting and averaging (`Dataset.evaluate` in the original's
    `data/InterHand2.6M/dataset.py`)."""

    def compute(self) -> tuple[dict, dict]:
        p, t = self._stacked()
        pred_img, rel_root_mm, pred_cam, errors = self._decoded(p, t)
        single = np.isin(t.hand_type, ("right", "left"))
        groups = {"single": single, "interacting": ~single, "all": np.ones(len(single), dtype=bool)}
        metrics: dict = {"mpjpe": {}, "mpjpe_per_joint": {}, "missing_joints": {}, "counts": {"samples": len(single)}}
        for group, samples in groups.items():
            means, counts = per_joint_mpjpe(errors, t.joint_valid, samples)
            metrics["mpjpe"][group] = _rounded(mean_over_joints(means))
            (metrics["mpjpe_per_joint"][group],
             metrics["missing_joints"][group]) = self._table(self.joint_names, means, counts)
            metrics["counts"][f"{group}_samples"] = int(samples.sum())
            metrics["counts"][f"{group}_joint_errors"] = int(counts.sum())
        mrrpe = np.full(len(single), np.nan) if rel_root_mm is None else mrrpe_errors(
            pred_img, rel_root_mm, t.abs_depth_mm[:, 0], t.focal, t.princpt, t.joints_cam_mm,
                             t.joint_valid, t.hand_type, t.root_joint_index)
        counted = np.isfinite(mrrpe)
        metrics["mrrpe"] = _rounded(float(mrrpe[counted].mean())) if counted.any() else None
        metrics["counts"]["mrrpe_samples"] = int(counted.sum())
        correct = _handedness_correct(p, t)
        valid = (np.asarray(t.hand_type_valid) > 0) & np.isfinite(correct)
        metrics["handedness_accuracy"] = _rounded(float(correct[valid].mean())) if valid.any() else None
        metrics["counts"]["handedness_samples"] = int(valid.sum())
        confused = hand_confusion(pred_img, t.joints_cam_mm, t.joint_valid, t.hand_type, t.focal, t.princpt)
        counted = np.isfinite(confused)
        metrics["hand_confusion"] = _rounded(float(confused[counted].mean())) if counted.any() else None
        metrics["counts"]["hand_confusion_joints"] = int(counted.sum())
        return metrics, _per_sample(p, t, pred_img, pred_cam, errors, rel_root_mm, correct)


class SingleHandEvaluator(_Evaluator):
    """STB / RHD: EPE over the ground-truth hand's 21 joints (right and left pooled), as the original."""

    def compute(self) -> tuple[dict, dict]:
        p, t = self._stacked()
        pred_img, rel_root_mm, pred_cam, errors = self._decoded(p, t)
        # The ground-truth hand's block: 0..20 or 21..41 depending on the order and the hand.
        own_root = np.where(t.hand_type == "right", t.root_joint_index[:, 0], t.root_joint_index[:, 1])
        columns = hand_block_columns(own_root)
        hand_errors = np.take_along_axis(errors, columns, axis=1)
        hand_valid = np.take_along_axis(np.asarray(t.joint_valid), columns, axis=1)
        means, counts = per_joint_mpjpe(hand_errors, hand_valid, np.ones(len(hand_errors), dtype=bool))
        names = tuple(name[2:] for name in self.joint_names[:JOINTS_PER_HAND])  # the hand's joints, side-free
        table, missing = self._table(names, means, counts)
        epe = _rounded(mean_over_joints(means))
        correct = _handedness_correct(p, t)
        scored = np.isfinite(correct)
        metrics = {"epe": epe, "mpjpe": {"single": epe, "interacting": None, "all": epe}, "epe_per_joint": table,
                   "missing_joints": {"single": missing}, "mrrpe": None,
                   "handedness_accuracy": _rounded(float(correct[scored].mean())) if scored.any() else None,
                   "counts": {"samples": len(correct), "joint_errors": int(counts.sum()),
                              "handedness_samples": int(scored.sum())}}
        return metrics, _per_sample(p, t, pred_img, pred_cam, errors, rel_root_mm, correct)


def _concatenated(parts: list, name: str) -> np.ndarray | None:
    """One field of several DecodedPredictions, stacked; None where none of them has it."""
    if all(part is None for part in parts):
        return None
    if any(part is None for part in parts):
        raise ValueError(f"{name}: given for some predictions and not for others")
    return np.concatenate(parts)


def _handedness_correct(p: DecodedPredictions, t: GroundTruth) -> np.ndarray:
    """(N,) 1.0 right, 0.0 wrong, NaN where no hand type was predicted."""
    if p.hand_type_prob is None:
        return np.full(len(p.keys), np.nan)
    return handedness_correct(p.hand_type_prob, t.hand_type)


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def _per_sample(p: DecodedPredictions, t: GroundTruth, pred_img, pred_cam, errors, rel_root_mm, correct) -> dict:
    valid = np.asarray(t.joint_valid) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        sample_error = np.where(valid.any(1), (errors * valid).sum(1) / np.maximum(valid.sum(1), 1), np.nan)
    return {"key": list(p.keys), "joints_cam_mm": pred_cam.astype(np.float32),
            "joints_img_px": pred_img[..., :2].astype(np.float32),
            "hand_type_prob": _or_nan(p.hand_type_prob, (len(p.keys), 2)),
            "rel_root_depth_mm": _or_nan(rel_root_mm, (len(p.keys),)), "mean_error_mm": sample_error.astype(np.float32),
            "handedness_correct": correct, "hand_type": np.asarray(t.hand_type)}


def _or_nan(values: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """A per-sample column as float32; NaN throughout where the field was not predicted."""
    return np.full(shape, np.nan, np.float32) if values is None else values.astype(np.float32)
