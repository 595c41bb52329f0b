"""Trivial predictors scored by the same evaluators as a network, so a report shows how far above trivial a model is.

The mean-pose baseline predicts, for every sample, the training split's mean root-relative pose of each hand
(per joint, over the samples where the joint and its wrist are valid), the mean left-minus-right wrist offset
of its interacting frames, and each hand's presence frequency as the hand-type probability. It needs no
image: it is a function of the training manifest only. Its poses are placed at the ground-truth wrists and
projected with each sample's intrinsics, then decoded by the evaluator exactly as a network's predictions
(the root source's depth, back-projection, root alignment), so its MPJPE is the error of the mean pose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interhand.eval.metrics import root_align
from interhand.geometry.camera import camera_to_pixel
from interhand.manifests.read import read_manifest
from interhand.skeleton import block_root_index

__all__ = ["MeanPose", "fit_mean_pose", "mean_pose_image_predictions"]

_COLUMNS = ["joints_cam_mm", "joint_valid", "root_joint_index", "hand_type", "hand_type_valid"]


@dataclass(frozen=True)
class MeanPose:
    """The training split's statistics that the mean-pose baseline predicts for every sample."""

    rel_joints_cam_mm: np.ndarray  # (42, 3) mean of joint − own wrist, camera mm (0 where no sample is valid)
    root_offset_mm: np.ndarray  # (3,) mean left wrist − right wrist over interacting frames with both wrists valid
    hand_presence: np.ndarray  # (2,) fraction of hand_type_valid frames showing the right / the left hand
    samples: int  # training samples it was computed from


def fit_mean_pose(train_shard_dir: Path) -> MeanPose:
    """The mean-pose statistics of one training split folder (its manifest.parquet only)."""
    rows = read_manifest(Path(train_shard_dir), columns=_COLUMNS).to_pydict()
    if not rows["hand_type"]:
        raise ValueError(f"{train_shard_dir}/manifest.parquet has no samples to compute a mean pose from")
    joints = np.array(rows["joints_cam_mm"], np.float64)
    valid = np.array(rows["joint_valid"], np.float64) > 0
    roots = np.array(rows["root_joint_index"], np.int64)
    own_root = block_root_index(roots)
    counted = valid & np.take_along_axis(valid, own_root, axis=1)
    rel = root_align(joints, roots)
    counts = counted.sum(axis=0)
    rel_mean = np.where(counts[:, None] > 0,
                        (rel * counted[..., None]).sum(axis=0) / np.maximum(counts, 1)[:, None], 0.0)
    hand_type = np.array(rows["hand_type"])
    rows_index = np.arange(len(hand_type))
    both = (hand_type == "interacting") & valid[rows_index, roots[:, 0]] & valid[rows_index, roots[:, 1]]
    offset = (joints[rows_index, roots[:, 1]] - joints[rows_index, roots[:, 0]])[both].mean(axis=0) if both.any() \
        else np.zeros(3)
    typed = np.array(rows["hand_type_valid"]) > 0
    typed = typed if typed.any() else np.ones(len(hand_type), dtype=bool)
    presence = np.array([np.isin(hand_type[typed], ("right", "interacting")).mean(),
                         np.isin(hand_type[typed], ("left", "interacting")).mean()])
    return MeanPose(rel_mean, offset, presence, len(hand_type))


def mean_pose_image_predictions(mean_pose: MeanPose, joints_cam_mm: np.ndarray, root_joint_index: np.ndarray,
                                hand_type: np.ndarray, focal: np.ndarray,
                                princpt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline's prediction for N samples, in the frame a network's decoded output has.

    Args:
        mean_pose: from `fit_mean_pose` on the training split.
        joints_cam_mm: (N, 42, 3) ground truth, used only for where each hand's wrist is (the anchor: MPJPE is
            root-aligned); the left hand of an interacting frame is anchored at the right wrist + the mean offset.
        root_joint_index: (N, 2) [right wrist, left wrist]. hand_type: (N,) str. focal, princpt: (N, 2) px.

    Returns:
        joints_img_rel (N, 42, 3): u, v original-image px, z mm relative to the joint's own wrist;
        rel_root_depth_mm (N,): the mean offset's depth; hand_type_prob (N, 2): the presence frequencies.
    """
    joints = np.asarray(joints_cam_mm, np.float64)
    rows = np.arange(len(joints))
    roots = np.asarray(root_joint_index, np.int64)
    right_wrist = joints[rows, roots[:, 0]]
    left_wrist = np.where((np.asarray(hand_type) == "interacting")[:, None], right_wrist + mean_pose.root_offset_mm,
                          joints[rows, roots[:, 1]])
    own_root = block_root_index(roots)
    anchor = np.where((own_root == roots[:, :1])[..., None], right_wrist[:, None, :], left_wrist[:, None, :])
    predicted = anchor + mean_pose.rel_joints_cam_mm[None]
    depth = np.maximum(predicted[..., 2:3], 1.0)  # absent hands hold placeholder coordinates; they are never scored
    uv = camera_to_pixel(np.concatenate([predicted[..., :2], depth], axis=-1), np.asarray(focal, np.float64),
                         np.asarray(princpt, np.float64), depth_epsilon=0.0)
    z_rel = predicted[..., 2] - np.take_along_axis(predicted[..., 2], own_root, axis=1)
    joints_img_rel = np.concatenate([uv, z_rel[..., None]], axis=-1)
    rel_root = np.full(len(joints), mean_pose.root_offset_mm[2])
    return joints_img_rel, rel_root, np.repeat(mean_pose.hand_presence[None], len(joints), axis=0)
