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
import pyarrow.compute as pc

from interhand.eval.metrics import root_align
from interhand.geometry.camera import camera_to_pixel
from interhand.manifests.read import column_numpy, manifest_batches
from interhand.skeleton import JOINTS_PER_HAND, NUM_JOINTS, block_root_index, block_wrists

__all__ = ["MeanPose", "fit_mean_pose", "mean_pose_image_predictions"]

_COLUMNS = ["joints_cam_mm", "joint_valid", "root_joint_index", "hand_type", "hand_type_valid"]


@dataclass(frozen=True)
class MeanPose:
    """The training split's statistics that the mean-pose baseline predicts for every sample."""

    rel_joints_cam_mm: np.ndarray  # (42, 3) mean of joint − own wrist, camera mm (0 where no sample is valid)
    root_offset_mm: np.ndarray  # (3,) mean left wrist − right wrist over interacting frames with both wrists valid
    hand_presence: np.ndarray  # (2,) fraction of hand_type_valid frames showing the right / the left hand
    samples: int  # training samples it was computed from


_CHUNK_ROWS = 1 << 13  # rows converted to float64 at a time: memory bounded at any size, temporaries reused (#31)


def fit_mean_pose(train_shard_dir: Path) -> MeanPose:
    """The mean-pose statistics of one training split folder (its manifest.parquet only).

    The columns are streamed from Parquet to numpy a chunk of rows at a time (a train manifest has 1.36 M × 42 × 3
    joints: as Python objects that is GBs and minutes, read whole ~1 GB of Arrow, #31), summed in the order one
    whole-array sum would add them, so the result does not depend on the chunks."""
    rel_sum, counts, offset_sum, offset_count = None, 0, None, 0
    samples, typed_samples, shown_typed, shown_all = 0, 0, np.zeros(2, np.int64), np.zeros(2, np.int64)
    for batch in manifest_batches(Path(train_shard_dir), _COLUMNS, _CHUNK_ROWS):
        interacting, right, left = (_equal(batch["hand_type"], value) for value in ("interacting", "right", "left"))
        joints = column_numpy(batch["joints_cam_mm"])
        valid = column_numpy(batch["joint_valid"]) > 0
        roots = column_numpy(batch["root_joint_index"], np.int64)
        counted = valid & np.take_along_axis(valid, block_root_index(roots), axis=1)
        rel_sum = _running_sum(rel_sum, root_align(joints, roots) * counted[..., None])
        counts = counts + counted.sum(axis=0)
        rows = np.arange(len(joints))
        both = interacting & valid[rows, roots[:, 0]] & valid[rows, roots[:, 1]]
        offset_sum = _running_sum(offset_sum, (joints[rows, roots[:, 1]] - joints[rows, roots[:, 0]])[both])
        offset_count += int(both.sum())
        shown = np.stack([right | interacting, left | interacting], axis=1)  # (n, 2): the frame shows that hand
        typed = column_numpy(batch["hand_type_valid"]) > 0
        samples, typed_samples = samples + len(joints), typed_samples + int(typed.sum())
        shown_all, shown_typed = shown_all + shown.sum(axis=0), shown_typed + shown[typed].sum(axis=0)
    if not samples:
        raise ValueError(f"{train_shard_dir}/manifest.parquet has no samples to compute a mean pose from")
    rel_mean = np.where(counts[:, None] > 0, rel_sum / np.maximum(counts, 1)[:, None], 0.0)
    offset = offset_sum / offset_count if offset_count else np.zeros(3)
    # the share of hand_type_valid frames showing each hand (of every frame where none is valid)
    presence = shown_typed / typed_samples if typed_samples else shown_all / samples
    return MeanPose(rel_mean, offset, presence, samples)


def _running_sum(total: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """total + rows.sum(axis=0), adding row after row as one `sum(axis=0)` over all chunks would (numpy reduces a
    leading axis sequentially), so the chunked mean is bit-identical to the whole-array one."""
    if total is None:
        return rows.sum(axis=0)
    return np.concatenate([total[None], rows]).sum(axis=0)


def _equal(column, value: str) -> np.ndarray:
    """(N,) bool: a string column equals `value` (compared in Arrow: no Python string per row)."""
    return pc.fill_null(pc.equal(column, value), False).to_numpy(zero_copy_only=False)


def mean_pose_image_predictions(mean_pose: MeanPose, joints_cam_mm: np.ndarray, root_joint_index: np.ndarray,
                                hand_type: np.ndarray, right_present: np.ndarray, focal: np.ndarray,
                                princpt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline's prediction for N samples, in the frame a network's decoded output has.

    Args:
        mean_pose: from `fit_mean_pose` on the training split.
        joints_cam_mm: (N, 42, 3) ground truth, used only for where each hand's wrist is (the anchor: MPJPE is
            root-aligned); the left hand of an interacting frame is anchored at the right wrist + the mean offset,
            or at its own wrist when the right hand is absent (its joints are zeros: SHARD_FORMAT.md §4.4).
        root_joint_index: (N, 2) [right wrist, left wrist]. hand_type: (N,) str. right_present: (N,) 0/1.
        focal, princpt: (N, 2) px.

    Returns:
        joints_img_rel (N, 42, 3): u, v original-image px, z mm relative to the joint's own wrist;
        rel_root_depth_mm (N,): the mean offset's depth; hand_type_prob (N, 2): the presence frequencies.
    """
    joints = np.asarray(joints_cam_mm, np.float64)
    count, rows = len(joints), np.arange(len(joints))
    roots = np.asarray(root_joint_index, np.int64)
    right_wrist = joints[rows, roots[:, 0]]
    from_right = (np.asarray(hand_type) == "interacting") & (np.asarray(right_present) > 0)
    left_wrist = np.where(from_right[:, None], right_wrist + mean_pose.root_offset_mm, joints[rows, roots[:, 1]])
    # each 21-joint block is anchored at its hand's wrist (the right wrist's block is the right hand's): the mean
    # pose added block by block, without a per-joint index (#31)
    wrists = block_wrists(roots)  # (N, 2): each block's wrist
    anchor = np.where((wrists == roots[:, :1])[..., None], right_wrist[:, None], left_wrist[:, None])  # (N, 2, 3)
    predicted = anchor[:, :, None] + mean_pose.rel_joints_cam_mm.reshape(1, -1, JOINTS_PER_HAND, 3)
    z_rel = predicted[..., 2] - predicted[rows[:, None], [0, 1], wrists % JOINTS_PER_HAND, 2][..., None]
    predicted = predicted.reshape(count, NUM_JOINTS, 3)
    np.maximum(predicted[..., 2], 1.0, out=predicted[..., 2])  # absent hands hold placeholder coordinates; never scored
    joints_img_rel = np.empty_like(predicted)
    joints_img_rel[..., :2] = camera_to_pixel(predicted, np.asarray(focal, np.float64), np.asarray(princpt, np.float64),
                                              depth_epsilon=0.0)
    joints_img_rel[..., 2] = z_rel.reshape(count, NUM_JOINTS)
    rel_root = np.full(count, mean_pose.root_offset_mm[2])
    return joints_img_rel, rel_root, np.repeat(mean_pose.hand_presence[None], count, axis=0)
