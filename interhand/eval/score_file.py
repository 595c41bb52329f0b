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

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.config import SCORE_SUBSETS
from interhand.eval.evaluators import DecodedPredictions, GroundTruth, InterHandEvaluator, SingleHandEvaluator
from interhand.eval.predictions import PredictionFile, PredictionFileError
from interhand.eval.protocols import ProtocolSelection, parse_selection, protocol_metrics, protocol_truth
from interhand.geometry.camera import camera_to_pixel
from interhand.manifests.read import column_numpy, read_manifest, stream_batches
from interhand.outputs import atomic_file
from interhand.shard_format.names import MANIFEST_FILE
from interhand.skeleton import IH26M_JOINT_NAMES, STB_RHD_JOINT_NAMES, block_root_index

__all__ = ["ROW_COLUMNS", "CHUNK_ROWS", "SplitRows", "open_rows", "read_rows", "row_chunks", "match_rows",
           "protocol_mask", "score_file", "per_sample_table", "PER_SAMPLE_SCHEMA", "take_rows"]

ROW_COLUMNS = ["key", "annotation_id", "joints_cam_mm", "joints_img", "joint_valid", "hand_type", "hand_type_valid",
               "focal", "princpt", "abs_depth_gt_mm", "rootnet_abs_depth_mm", "root_joint_index", "shard",
               "image_offset", "image_size", "capture", "camera", "frame_idx", "width", "height"]
_SHOWN = 5  # ids named in an error or a report
# Manifest rows scored at a time: memory is bounded by the chunk, not the split (#31). 8,192 rows keep every
# temporary (~8 MB) in memory malloc reuses: at 65,536 each was a fresh mmap whose first touch cost ~1.5x the
# arithmetic in page faults (docs/benchmarks.md).
CHUNK_ROWS = 1 << 13
_INDEX_COLUMNS = ["key", "annotation_id", "hand_type"]  # what matching and the protocols' masks need, held whole


def read_rows(shard_dir: Path) -> dict:
    """The manifest's ground truth and image locations (ROW_COLUMNS) as numpy arrays, in manifest order."""
    table = read_manifest(shard_dir, columns=ROW_COLUMNS)
    return {name: column_numpy(table.column(name)) for name in ROW_COLUMNS}


def take_rows(rows: dict, index: np.ndarray) -> dict:
    return {name: values[index] for name, values in rows.items()}


@dataclass
class SplitRows:
    """A split's manifest for scoring without holding its ground truth: the few columns that matching and the
    protocols need (`key` as one Arrow string array, `annotation_id`, `hand_type`), the rest read a chunk at a
    time (`row_chunks`). `rows[name]` gives those columns as `read_rows`' dict does."""

    path: Path  # manifest.parquet
    index: dict

    def __getitem__(self, name: str):
        return self.index[name]

    def __len__(self) -> int:
        return len(self.index["annotation_id"])


def open_rows(shard_dir: Path) -> SplitRows:
    """The split's SplitRows (its format version and shard names checked by `read_manifest`)."""
    table = read_manifest(shard_dir, columns=_INDEX_COLUMNS)
    hand_type = table["hand_type"].combine_chunks().dictionary_encode()  # a code per row, no string object per row
    index = {"key": table["key"].combine_chunks(), "annotation_id": column_numpy(table["annotation_id"]),
             "hand_type": np.array(hand_type.dictionary.to_pylist(), dtype=str)[
                 hand_type.indices.to_numpy(zero_copy_only=False)]}
    return SplitRows(Path(shard_dir) / MANIFEST_FILE, index)


def row_chunks(rows: dict | SplitRows, columns: list[str], chunk_rows: int = CHUNK_ROWS
               ) -> Iterator[tuple[int, dict]]:
    """(first row, {column: numpy}) for `chunk_rows` manifest rows at a time, in manifest order."""
    if isinstance(rows, SplitRows):
        start = 0
        for batch in stream_batches(rows.path, chunk_rows, columns):
            yield start, {name: column_numpy(batch.column(name)) for name in columns}
            start += batch.num_rows
        return
    for start in range(0, len(rows["key"]), chunk_rows):
        yield start, {name: rows[name][start:start + chunk_rows] for name in columns}


def _rows_at(rows: dict | SplitRows, manifest_rows: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> dict:
    """ROW_COLUMNS of a few manifest rows, in the given order (a streaming pass for a SplitRows)."""
    if not isinstance(rows, SplitRows):
        return take_rows(rows, manifest_rows)
    found: dict[int, dict] = {}
    for start, chunk in row_chunks(rows, ROW_COLUMNS, chunk_rows):
        for row in manifest_rows[(manifest_rows >= start) & (manifest_rows < start + len(chunk["key"]))]:
            found[int(row)] = {name: values[row - start] for name, values in chunk.items()}
    return {name: np.array([found[int(row)][name] for row in manifest_rows]) for name in ROW_COLUMNS}


def _key_list(rows: dict | SplitRows, index: np.ndarray) -> list[str]:
    column = rows["key"]
    return column.take(pa.array(index, pa.int64())).to_pylist() if isinstance(column, pa.Array) else \
        [str(key) for key in column[index]]


def _named(ids: list, total: int) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return f"{shown}{', ...' if total > _SHOWN else ''} ({total} in all)"


def match_rows(predictions: PredictionFile, rows: dict, manifest: str) -> np.ndarray:
    """The manifest row of each prediction; duplicate or unknown ids are one PredictionFileError naming them."""
    ids = predictions.ids
    column = rows["key"] if predictions.keys is not None else rows["annotation_id"]
    found = pc.fill_null(pc.index_in(pa.array(ids), value_set=pa.array(column)), -1).to_numpy().astype(np.int64)
    # a repeated id is a manifest row found twice (a hash lookup, then a count: np.unique sorted the ids, ~1.3 s at
    # the test split's 849 k keys); only a file with a problem pays the sort that names the repeats first
    if (found < 0).any() or np.bincount(found, minlength=1).max() > 1:
        _, first, counts = np.unique(np.asarray(ids), return_index=True, return_counts=True)
        if (counts > 1).any():
            repeated = [ids[i] for i in sorted(first[counts > 1])]
            raise PredictionFileError(f"{predictions.path}: ids predicted more than once: "
                                      f"{_named(repeated, len(repeated))}")
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
        return np.ones(len(rows["hand_type"]), dtype=bool)
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
    arrays = {name: np.asarray(_at(values, index), np.float64) for name, values in predictions.arrays.items()}
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


def _at(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[index], a view where the index runs consecutively (a file in manifest order: no copy, #31)."""
    if len(index) and index[-1] - index[0] == len(index) - 1 and (np.diff(index) == 1).all():
        return values[index[0]:index[-1] + 1]
    return values[index]


def _ground_truth(rows: dict, root_source: str | None) -> GroundTruth:
    depth = rows["rootnet_abs_depth_mm" if root_source == "rootnet" else "abs_depth_gt_mm"]
    return GroundTruth(rows["joints_cam_mm"], rows["joint_valid"], rows["hand_type"].astype(str),
                       rows["hand_type_valid"], rows["focal"], rows["princpt"], depth,
                       rows["root_joint_index"].astype(np.int64))


_TRUTH_COLUMNS = ["key", "annotation_id", "joints_cam_mm", "joint_valid", "hand_type", "hand_type_valid", "focal",
                  "princpt", "abs_depth_gt_mm", "rootnet_abs_depth_mm", "root_joint_index"]
_IMAGE_SIZE_COLUMNS = ["width", "height"]  # a protocol's hand boxes (protocol_truth) are clipped to the image


@dataclass
class _Scoring:
    """One file under one protocol: what every chunk needs."""

    predictions: PredictionFile
    root_source: str | None  # the image_relative form's; None for the others
    protocol: ProtocolSelection | None


def score_file(predictions: PredictionFile, rows: dict | SplitRows, row_index: np.ndarray, in_protocol: np.ndarray,
               dataset: str, root_source: str, protocol: ProtocolSelection | None = None,
               per_sample_path: Path | None = None, chunk_rows: int = CHUNK_ROWS
               ) -> tuple[dict, dict, Callable[[np.ndarray], tuple[dict, np.ndarray]]]:
    """Score the predictions whose rows are in the protocol, `chunk_rows` manifest rows at a time.

    Args:
        predictions: a checked file; rows: `open_rows` (or `read_rows`) of the split; row_index: `match_rows`;
            in_protocol: (rows,) bool from `protocol_mask`; root_source: rootnet or gt (used by the image_relative
            form only); protocol: the rules applied (eval/protocols.py; None: the original's, `internet`);
            per_sample_path: where per_sample.parquet is written, a chunk at a time (None: not written).
    Returns:
        metrics (metrics.json's metric fields, with the counts of the protocol and of missing predictions), the
        small per-sample table (`row`, `mean_error_mm`, `handedness_correct`, `hand_type`; manifest order), and
        `overlay_rows(positions)`: for a few of its samples, their ROW_COLUMNS and predicted joints_img_px (re-read).
    """
    prediction_of_row = np.full(len(in_protocol), -1, np.int64)
    prediction_of_row[row_index] = np.arange(len(row_index))
    scored_rows = in_protocol & (prediction_of_row >= 0)
    missing = np.flatnonzero(in_protocol & (prediction_of_row < 0))
    if not scored_rows.any():
        raise PredictionFileError(f"{predictions.path}: none of the {int(in_protocol.sum())} samples of the "
                                  "protocol has a prediction")
    relative_form = predictions.form == "image_relative"
    scoring = _Scoring(predictions, root_source if relative_form else None, protocol)
    names = IH26M_JOINT_NAMES if dataset == "interhand26m" else STB_RHD_JOINT_NAMES
    evaluator = (InterHandEvaluator if dataset == "interhand26m" else SingleHandEvaluator)(names)
    no_rootnet = 0
    with contextlib.ExitStack() as stack:
        writer = None
        if per_sample_path is not None:
            handle = stack.enter_context(atomic_file(per_sample_path))
            writer = stack.enter_context(pq.ParquetWriter(handle, PER_SAMPLE_SCHEMA, use_dictionary=["hand_type"]))
        columns = _TRUTH_COLUMNS + (_IMAGE_SIZE_COLUMNS if protocol is not None else [])
        for start, chunk in row_chunks(rows, columns, chunk_rows):
            local = np.flatnonzero(scored_rows[start:start + len(chunk["key"])])
            if not len(local):
                continue
            scored = chunk if len(local) == len(chunk["key"]) else take_rows(chunk, local)
            truth = _ground_truth(scored, scoring.root_source)
            no_rootnet += int((~np.isfinite(truth.abs_depth_mm)).any(1).sum()) if relative_form else 0
            if no_rootnet:
                continue  # refused below, with the count over every chunk
            evaluated, truth = _chunk_inputs(scoring, prediction_of_row[start + local], scored, truth)
            per_sample = evaluator.update(evaluated, truth, start + local)
            if writer is not None:
                writer.write_table(per_sample_table(per_sample))
        if no_rootnet:
            raise PredictionFileError(f"{predictions.path}: {no_rootnet} scored samples have no RootNet output in "
                                      "the manifest; use --root-source gt")
    metrics, per_sample = evaluator.compute()
    not_scored = {}
    if not evaluator.totals.has_rel_root and dataset == "interhand26m":  # STB and RHD have no MRRPE at all
        not_scored["mrrpe"] = f"the {predictions.form} file has no relative root"
    if "hand_type_prob" not in predictions.arrays:
        not_scored["handedness_accuracy"] = "the file has no hand_type_prob"
    metrics["not_scored"] = not_scored
    if protocol is not None:
        metrics = protocol_metrics(protocol, metrics, evaluator.totals)
    metrics["counts"].update({"protocol_samples": int(in_protocol.sum()), "missing_predictions": len(missing)})
    metrics["missing_prediction_keys"] = _key_list(rows, missing[:_SHOWN])
    metrics["root_source"] = root_source if relative_form else \
        ("none (root-relative)" if predictions.form == "camera_relative" else "prediction")

    def overlay_rows(positions: np.ndarray) -> tuple[dict, np.ndarray]:
        """ROW_COLUMNS of the per-sample table's samples at `positions`, and their predicted u, v px."""
        chosen = _rows_at(rows, per_sample["row"][np.asarray(positions, np.int64)], chunk_rows)
        truth = _ground_truth(chosen, scoring.root_source)
        evaluated, _ = _chunk_inputs(replace(scoring, protocol=None), prediction_of_row[per_sample["row"][positions]],
                                     chosen, truth)
        return chosen, evaluated.joints_img_rel[..., :2]

    return metrics, per_sample, overlay_rows


def _chunk_inputs(scoring: _Scoring, index: np.ndarray, scored: dict, truth: GroundTruth
                  ) -> tuple[DecodedPredictions, GroundTruth]:
    """The file's samples `index` (their manifest rows `scored`, ground truth `truth`) as the evaluator takes them,
    and the ground truth as the protocol validates it."""
    predictions = scoring.predictions
    keys = [str(key) for key in scored["key"]]
    joints_img_rel, abs_depth, rel_root_mm = _evaluator_inputs(predictions, index, truth, keys)
    if abs_depth is not None:
        truth.abs_depth_mm = abs_depth
    rel_root = None if rel_root_mm is None else _checked_rel_root(predictions.path, keys, rel_root_mm, truth)
    hand_prob = predictions.arrays.get("hand_type_prob")
    evaluated = DecodedPredictions(keys, joints_img_rel, rel_root,
                                   None if hand_prob is None else np.asarray(_at(hand_prob, index), np.float64))
    if scoring.protocol is not None:
        truth = protocol_truth(scoring.protocol, truth, np.stack([scored["width"], scored["height"]], axis=1))
    return evaluated, truth


def _checked_rel_root(path: str, keys: list, rel_root_mm: np.ndarray, truth: GroundTruth) -> np.ndarray:
    rows, roots = np.arange(len(keys)), truth.root_joint_index.astype(np.int64)
    counted = (truth.hand_type == "interacting") & (truth.joint_valid[rows, roots[:, 0]] > 0) & \
        (truth.joint_valid[rows, roots[:, 1]] > 0)
    bad = ~np.isfinite(rel_root_mm)
    _unusable(path, keys, bad[:, None], counted[:, None], "a non-finite relative root")
    return np.where(bad, 0.0, rel_root_mm)


PER_SAMPLE_SCHEMA = pa.schema([("key", pa.string()), ("hand_type", pa.string()), ("mean_error_mm", pa.float32()),
                               ("handedness_correct", pa.bool_()), ("joints_cam_mm", pa.list_(pa.float32(), 126))])


def per_sample_table(per_sample: dict) -> pa.Table:
    """per_sample.parquet's rows for one chunk (an evaluator's `update`): key, ground-truth hand type, the mean joint
    error (NaN: no valid joint), handedness right or wrong (null: not predicted), and the predicted camera joints
    (126 values, mm) as scored."""
    correct = np.asarray(per_sample["handedness_correct"], dtype=float)
    columns = [pa.array(per_sample["key"], pa.string()),
               pa.array(np.asarray(per_sample["hand_type"]).astype(str), pa.string()),
               pa.array(per_sample["mean_error_mm"], pa.float32(), from_pandas=True),
               pa.array(correct.astype(bool), pa.bool_(), mask=np.isnan(correct)),
               pa.FixedSizeListArray.from_arrays(
                   pa.array(np.asarray(per_sample["joints_cam_mm"], np.float32).reshape(-1)), 126)]
    return pa.Table.from_arrays(columns, schema=PER_SAMPLE_SCHEMA)
