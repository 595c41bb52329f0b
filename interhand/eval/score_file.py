"""Score one prediction file against a split's manifest: match ids, convert the form, run the evaluator.

Every form becomes what the evaluators take (u, v px and each joint's depth relative to its own wrist, the
wrists' absolute depths, the left-minus-right wrist depth), so the metrics are computed by the same code as
`interhand eval`'s (`InterHandEvaluator` / `SingleHandEvaluator`, the original's definitions):

- `camera`: projected with the sample's intrinsics; the wrists' depths are the predicted ones, so the
  back-projection gives the predicted camera joints again and MRRPE compares the predicted wrist-to-wrist
  vector with the ground truth's.
- `camera_relative`: placed at the ground-truth right wrist (the left hand at it plus `rel_root_cam_mm`, or
  at the ground-truth left wrist when the file has no relative root: MRRPE is then not scored), then as
  `camera`. MPJPE aligns each hand on its own wrist, so the placement does not change it.
- `image_depth`: as `camera`, without the projection.
- `image_relative`: the wrists' absolute depths from RootNet or the ground truth (`root_source`), as the original.

A joint the ground truth validates must have a finite prediction in front of the camera (else one error naming
the samples); values at joints it does not validate are never scored and are replaced by harmless ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from interhand.config import SCORE_SUBSETS
from interhand.eval.evaluators import DecodedPredictions, GroundTruth, InterHandEvaluator, SingleHandEvaluator
from interhand.eval.predictions import PredictionFile, PredictionFileError
from interhand.eval.protocols import ProtocolSelection, parse_selection, protocol_metrics, protocol_truth
from interhand.geometry.camera import camera_to_pixel
from interhand.manifests.read import column_numpy, read_manifest
from interhand.outputs import save_with
from interhand.skeleton import IH26M_JOINT_NAMES, STB_RHD_JOINT_NAMES, block_root_index

__all__ = ["ROW_COLUMNS", "read_rows", "match_rows", "protocol_mask",
           "score_file", "write_per_sample", "take_rows"]

ROW_COLUMNS = ["key", "annotation_id", "joints_cam_mm", "joints_img", "joint_valid", "hand_type", "hand_type_valid",
               "focal", "princpt", "abs_depth_gt_mm", "rootnet_abs_depth_mm", "root_joint_index", "shard",
               "image_offset", "image_size", "capture", "camera", "frame_idx", "width", "height"]
_SHOWN = 5  # ids named in an error or a report


def read_rows(shard_dir: Path) -> dict:
    """The manifest's ground truth and image locations (ROW_COLUMNS) as numpy arrays, in manifest order."""
    table = read_manifest(shard_dir, columns=ROW_COLUMNS)
    return {name: column_numpy(table.column(name)) for name in ROW_COLUMNS}


def take_rows(rows: dict, index: np.ndarray) -> dict:
    return {name: values[index] for name, values in rows.items()}


def _named(ids: list, total: int) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return f"{shown}{', ...' if total > _SHOWN else ''} ({total} in all)"


def match_rows(predictions: PredictionFile, rows: dict, manifest: str) -> np.ndarray:
    """The manifest row of each prediction; duplicate or unknown ids are one PredictionFileError naming them."""
    ids = predictions.ids
    column = rows["key"] if predictions.keys is not None else rows["annotation_id"]
    _, first, counts = np.unique(np.asarray(ids), return_index=True, return_counts=True)
    if (counts > 1).any():
        repeated = [ids[i] for i in sorted(first[counts > 1])]
        raise PredictionFileError(f"{predictions.path}: ids predicted more than once: "
                                  f"{_named(repeated, len(repeated))}")
    position = {value: index for index, value in enumerate(column.tolist())}
    found = np.array([position.get(value, -1) for value in ids], dtype=np.int64)
    if (found < 0).any():
        unknown = [ids[i] for i in np.flatnonzero(found < 0)]
        raise PredictionFileError(f"{predictions.path}: ids not in {manifest}: {_named(unknown, len(unknown))}")
    if predictions.keys is not None and predictions.annotation_ids is not None:
        disagree = np.flatnonzero(rows["annotation_id"][found] != predictions.annotation_ids)
        if len(disagree):
            raise PredictionFileError(f"{predictions.path}: key and annotation_id name different samples at "
                                      f"{_named([ids[i] for i in disagree], len(disagree))}")
    return found


def protocol_mask(protocol: str, rows: dict, human_ids: set[int] | None) -> np.ndarray:
    """(rows,) bool: the samples a protocol (its subset: `mmpose:interacting` → interacting) scores (human_ids: the
    H-subset annotation ids, for human_annot)."""
    protocol = parse_selection(protocol).subset
    if protocol == "all":
        return np.ones(len(rows["key"]), dtype=bool)
    if protocol == "interacting":
        return rows["hand_type"] == "interacting"
    if protocol == "human_annot":
        if human_ids is None:
            raise ValueError("protocol human_annot needs the H-subset annotation ids")
        return np.isin(rows["annotation_id"], np.fromiter(human_ids, np.int64, len(human_ids)))
    raise ValueError(f"subset={protocol!r} is not one of {', '.join(SCORE_SUBSETS)}")


def _unusable(path: str, keys, bad: np.ndarray, valid: np.ndarray, what: str) -> None:
    """Raise if a joint the ground truth validates is bad; `bad`, `valid`: (M, J) bool."""
    rows = np.flatnonzero((bad & valid).any(axis=1))
    if len(rows):
        raise PredictionFileError(f"{path}: {what} at joints the ground truth validates: "
                                  f"{_named([keys[i] for i in rows], len(rows))}")


def _from_image_depth(path, keys, uv_px, depth_mm, truth: GroundTruth):
    """u, v px and absolute depth per joint → (joints_img_rel, wrists' absolute depth, left-minus-right depth)."""
    valid = truth.joint_valid > 0
    bad = ~np.isfinite(uv_px).all(axis=-1) | ~np.isfinite(depth_mm) | (depth_mm <= 0)
    _unusable(path, keys, bad, valid, "non-finite values or depths not in front of the camera")
    uv_px = np.where(bad[..., None], truth.princpt[:, None, :], uv_px)
    depth_mm = np.where(bad, 1000.0, depth_mm)  # never scored (the ground truth does not validate them)
    own_root = block_root_index(truth.root_joint_index)
    z_rel = depth_mm - np.take_along_axis(depth_mm, own_root, axis=1)
    abs_depth = np.take_along_axis(depth_mm, truth.root_joint_index.astype(np.int64), axis=1)
    return np.concatenate([uv_px, z_rel[..., None]], axis=-1), abs_depth, abs_depth[:, 1] - abs_depth[:, 0]


def _from_camera(path, keys, joints_cam_mm, truth: GroundTruth):
    valid = truth.joint_valid > 0
    bad = ~np.isfinite(joints_cam_mm).all(axis=-1) | (np.nan_to_num(joints_cam_mm[..., 2]) <= 0)
    _unusable(path, keys, bad, valid, "non-finite values or joints not in front of the camera (z <= 0)")
    joints = np.where(bad[..., None], np.array([0.0, 0.0, 1000.0]), joints_cam_mm)
    uv_px = camera_to_pixel(joints, truth.focal, truth.princpt, depth_epsilon=0.0)
    return _from_image_depth(path, keys, uv_px, joints[..., 2], truth)


def _evaluator_inputs(predictions: PredictionFile, index: np.ndarray, truth: GroundTruth, keys: list):
    """The file's arrays for the samples `index` → (joints_img_rel, abs_depth_mm or None, rel_root_mm or None)."""
    arrays = {name: values[index] for name, values in predictions.arrays.items()}
    path, form = predictions.path, predictions.form
    if form == "camera":
        return _from_camera(path, keys, arrays["joints_cam_mm"], truth)
    if form == "image_depth":
        return _from_image_depth(path, keys, arrays["joints_img_px"], arrays["joints_depth_mm"], truth)
    if form == "camera_relative":
        rows, roots = np.arange(len(index)), truth.root_joint_index.astype(np.int64)
        right = truth.joints_cam_mm[rows, roots[:, 0]]
        relative = "rel_root_cam_mm" in arrays
        left = right + arrays["rel_root_cam_mm"] if relative else truth.joints_cam_mm[rows, roots[:, 1]]
        anchor = np.where((block_root_index(roots) == roots[:, :1])[..., None], right[:, None], left[:, None])
        joints_img_rel, abs_depth, rel_root = _from_camera(path, keys, arrays["joints_cam_rel_mm"] + anchor, truth)
        return joints_img_rel, abs_depth, rel_root if relative else None
    # image_relative: the root source gives the absolute depths
    valid = truth.joint_valid > 0
    bad = ~np.isfinite(arrays["joints_img_px"]).all(axis=-1) | ~np.isfinite(arrays["joints_rel_depth_mm"])
    _unusable(path, keys, bad, valid, "non-finite values")
    joints_img_rel = np.concatenate([arrays["joints_img_px"], arrays["joints_rel_depth_mm"][..., None]], axis=-1)
    return np.where(bad[..., None], 0.0, joints_img_rel), None, arrays.get("rel_root_depth_mm")


def _ground_truth(rows: dict, root_source: str | None) -> GroundTruth:
    depth = rows["rootnet_abs_depth_mm" if root_source == "rootnet" else "abs_depth_gt_mm"]
    return GroundTruth(rows["joints_cam_mm"], rows["joint_valid"], rows["hand_type"].astype(str),
                       rows["hand_type_valid"], rows["focal"], rows["princpt"], depth,
                       rows["root_joint_index"].astype(np.int64))


def score_file(predictions: PredictionFile, rows: dict, row_index: np.ndarray, in_protocol: np.ndarray,
               dataset: str, root_source: str, protocol: ProtocolSelection | None = None) -> tuple[dict, dict, dict]:
    """Score the predictions whose rows are in the protocol.

    Args:
        predictions: a checked file; rows: `read_rows` of the split; row_index: `match_rows`; in_protocol: (rows,)
            bool from `protocol_mask`; root_source: rootnet or gt (used by the image_relative form only);
            protocol: the rules applied (eval/protocols.py; None: the original's, `internet`).
    Returns:
        metrics (metrics.json's metric fields, with the counts of the protocol and of missing predictions),
        the per-sample table, and the scored samples' rows (for figures), in the file's order.
    """
    chosen = np.flatnonzero(in_protocol[row_index])
    predicted = np.zeros(len(in_protocol), dtype=bool)
    predicted[row_index] = True
    missing = np.flatnonzero(in_protocol & ~predicted)
    if not len(chosen):
        raise PredictionFileError(f"{predictions.path}: none of the {int(in_protocol.sum())} samples of the "
                                  "protocol has a prediction")
    scored = take_rows(rows, row_index[chosen])
    relative_form = predictions.form == "image_relative"
    truth = _ground_truth(scored, root_source if relative_form else None)
    if relative_form and not np.isfinite(truth.abs_depth_mm).all():
        raise PredictionFileError(f"{predictions.path}: {int((~np.isfinite(truth.abs_depth_mm)).any(1).sum())} "
                                  "scored samples have no RootNet output in the manifest; use --root-source gt")
    keys = list(scored["key"])
    joints_img_rel, abs_depth, rel_root_mm = _evaluator_inputs(predictions, chosen, truth, keys)
    if abs_depth is not None:
        truth.abs_depth_mm = abs_depth
    rel_root = None if rel_root_mm is None else _checked_rel_root(predictions.path, keys, rel_root_mm, truth)
    hand_prob = predictions.arrays.get("hand_type_prob")
    evaluated = DecodedPredictions(keys, joints_img_rel, rel_root, None if hand_prob is None else hand_prob[chosen])
    names = IH26M_JOINT_NAMES if dataset == "interhand26m" else STB_RHD_JOINT_NAMES
    evaluator = (InterHandEvaluator if dataset == "interhand26m" else SingleHandEvaluator)(names)
    if protocol is not None:
        truth = protocol_truth(protocol, truth, np.stack([scored["width"], scored["height"]], axis=1))
    evaluator.update(evaluated, truth)
    metrics, per_sample = evaluator.compute()
    not_scored = {}
    if rel_root is None and dataset == "interhand26m":  # STB and RHD have no MRRPE at all
        not_scored["mrrpe"] = f"the {predictions.form} file has no relative root"
    if hand_prob is None:
        not_scored["handedness_accuracy"] = "the file has no hand_type_prob"
    metrics["not_scored"] = not_scored
    if protocol is not None:
        metrics = protocol_metrics(protocol, metrics, evaluated, truth)
    metrics["counts"].update({"protocol_samples": int(in_protocol.sum()), "missing_predictions": len(missing)})
    metrics["missing_prediction_keys"] = [str(key) for key in rows["key"][missing[:_SHOWN]]]
    metrics["root_source"] = root_source if relative_form else \
        ("none (root-relative)" if predictions.form == "camera_relative" else "prediction")
    return metrics, per_sample, scored


def _checked_rel_root(path: str, keys: list, rel_root_mm: np.ndarray, truth: GroundTruth) -> np.ndarray:
    rows, roots = np.arange(len(keys)), truth.root_joint_index.astype(np.int64)
    counted = (truth.hand_type == "interacting") & (truth.joint_valid[rows, roots[:, 0]] > 0) & \
        (truth.joint_valid[rows, roots[:, 1]] > 0)
    bad = ~np.isfinite(rel_root_mm)
    _unusable(path, keys, bad[:, None], counted[:, None], "a non-finite relative root")
    return np.where(bad, 0.0, rel_root_mm)


def write_per_sample(path: Path, per_sample: dict) -> Path:
    """per_sample.parquet: key, ground-truth hand type, the mean joint error (NaN: no valid joint), handedness
    right or wrong (null: not predicted), and the predicted camera joints (126 values, mm) as scored."""
    correct = np.asarray(per_sample["handedness_correct"], dtype=float)
    columns = {"key": pa.array(per_sample["key"], pa.string()),
               "hand_type": pa.array(np.asarray(per_sample["hand_type"]).astype(str), pa.string()),
               "mean_error_mm": pa.array(per_sample["mean_error_mm"], pa.float32(), from_pandas=True),
               "handedness_correct": pa.array(correct.astype(bool), pa.bool_(), mask=np.isnan(correct)),
               "joints_cam_mm": pa.FixedSizeListArray.from_arrays(
                   pa.array(np.asarray(per_sample["joints_cam_mm"], np.float32).reshape(-1)), 126)}
    save_with(path, lambda handle: pq.write_table(pa.table(columns), handle))
    return Path(path)
