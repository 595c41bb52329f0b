"""Prediction files: the forms `interhand score` reads and `interhand eval` writes (docs/scoring.md).

A prediction file holds, for N samples of one split, an id column (`key`, the shards' sample key, or
`annotation_id`, the dataset's annotation id; or both, then they must agree), the joints in one of four forms,
optionally the hand-type probabilities, and names its dataset and split (metadata: Parquet schema metadata,
top-level JSON fields, 0-d NPZ arrays). Forms (42 joints in the dataset's order; each hand's block as the
manifest's `root_joint_index` says):

- `camera`: `joints_cam_mm` (N, 42, 3), camera mm, absolute.
- `camera_relative`: `joints_cam_rel_mm` (N, 42, 3), each hand minus its own wrist, camera mm; optional
  `rel_root_cam_mm` (N, 3), left wrist minus right wrist (without it MRRPE is not scored).
- `image_depth`: `joints_img_px` (N, 42, 2), u, v original-image px; `joints_depth_mm` (N, 42), absolute camera depth.
- `image_relative` (InterNet's 2.5D output, what `interhand eval` writes): `joints_img_px` (N, 42, 2);
  `joints_rel_depth_mm` (N, 42), depth minus the own wrist's; optional `rel_root_depth_mm` (N,), left minus right
  wrist depth. The absolute wrist depths come from RootNet or the ground truth (`--root-source`).

Optional in every form: `hand_type_prob` (N, 2), [p_right, p_left]. This module reads, writes and checks the
files; `interhand.eval.score_file` turns them into the evaluator's inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.outputs import atomic_file, save_with, write_json
from interhand.skeleton import NUM_JOINTS

__all__ = ["PredictionFile", "FORMS", "FIELD_SHAPES", "METADATA", "PredictionFileError", "read_predictions",
           "write_predictions", "SUFFIXES"]

PREDICTIONS_FORMAT_VERSION = 1
SUFFIXES = (".parquet", ".json", ".npz")
# Per-sample shape of each array field (after the sample axis).
FIELD_SHAPES = {"joints_cam_mm": (NUM_JOINTS, 3), "joints_cam_rel_mm": (NUM_JOINTS, 3), "rel_root_cam_mm": (3,),
                "joints_img_px": (NUM_JOINTS, 2), "joints_depth_mm": (NUM_JOINTS,),
                "joints_rel_depth_mm": (NUM_JOINTS,), "rel_root_depth_mm": (), "hand_type_prob": (2,)}
# form -> (required fields, optional fields); hand_type_prob is optional in every form.
FORMS = {"camera": (("joints_cam_mm",), ()),
         "camera_relative": (("joints_cam_rel_mm",), ("rel_root_cam_mm",)),
         "image_depth": (("joints_img_px", "joints_depth_mm"), ()),
         "image_relative": (("joints_img_px", "joints_rel_depth_mm"), ("rel_root_depth_mm",))}
ID_FIELDS = ("key", "annotation_id")
# Metadata: dataset and split are required (a file for another split or dataset is refused).
METADATA = ("dataset", "split", "annot_subset", "name", "source", "root_source")
_REQUIRED_METADATA = ("dataset", "split")


class PredictionFileError(ValueError):
    """A prediction file that cannot be scored; the message names the file (and the samples)."""


@dataclass
class PredictionFile:
    """One prediction file, checked: ids, the arrays of its form (float64), its metadata."""

    path: str
    metadata: dict  # METADATA fields present (str values)
    keys: list[str] | None  # sample keys, or None
    annotation_ids: np.ndarray | None  # (N,) int64, or None
    arrays: dict = field(default_factory=dict)  # FIELD_SHAPES name -> (N, *shape) float64
    form: str = ""

    def __len__(self) -> int:
        return len(self.keys) if self.keys is not None else len(self.annotation_ids)

    @property
    def ids(self) -> list:
        """The ids as written: keys if present, else annotation ids."""
        return list(self.keys) if self.keys is not None else [int(i) for i in self.annotation_ids]

    @property
    def label(self) -> str:
        return self.metadata.get("name") or Path(self.path).stem


def _form_of(path: str, names: set[str]) -> str:
    unknown = sorted(names - set(FIELD_SHAPES) - set(ID_FIELDS) - set(METADATA) - {"format_version"})
    if unknown:
        raise PredictionFileError(f"{path}: unknown fields {unknown}; a prediction file holds {list(ID_FIELDS)}, "
                                  f"the fields of one form ({_forms_text()}) and optionally hand_type_prob")
    arrays = names & set(FIELD_SHAPES) - {"hand_type_prob"}
    matching = [form for form, (required, optional) in FORMS.items()
                if set(required) <= arrays and arrays <= set(required) | set(optional)]
    if len(matching) != 1:
        raise PredictionFileError(f"{path}: fields {sorted(arrays) or 'none'} are not one form; the forms are "
                                  f"{_forms_text()}")
    return matching[0]


def _forms_text() -> str:
    return "; ".join(f"{form}: {' + '.join(required)}" + (f" [+ {', '.join(optional)}]" if optional else "")
                     for form, (required, optional) in FORMS.items())


def _checked(path: str, columns: dict, metadata: dict) -> PredictionFile:
    """Columns (name -> array-like over samples) and metadata → a checked PredictionFile."""
    form = _form_of(path, set(columns) | set(metadata))
    missing = [name for name in _REQUIRED_METADATA if not metadata.get(name)]
    if missing:
        raise PredictionFileError(f"{path}: the file does not name its {' and '.join(missing)} (Parquet: schema "
                                  "metadata; JSON: top-level fields; NPZ: 0-d arrays), so it cannot be checked "
                                  "against the shards")
    if not any(name in columns for name in ID_FIELDS):
        raise PredictionFileError(f"{path}: no id column: give `key` (the shards' sample key) or `annotation_id`")
    keys = [str(key) for key in columns["key"]] if "key" in columns else None
    annotation_ids = None
    if "annotation_id" in columns:
        raw = np.asarray(columns["annotation_id"])
        if raw.ndim != 1 or raw.dtype.kind not in "iu":
            raise PredictionFileError(f"{path}: annotation_id must be one integer per sample, found {raw.dtype} "
                                      f"of shape {raw.shape}")
        annotation_ids = raw.astype(np.int64)
    count = len(keys) if keys is not None else len(annotation_ids)
    if count == 0:
        raise PredictionFileError(f"{path}: no predictions")
    arrays = {}
    for name in FIELD_SHAPES:
        if name in columns:
            arrays[name] = _array(path, name, columns[name], count)
    if annotation_ids is not None and len(annotation_ids) != count:
        raise PredictionFileError(f"{path}: {count} keys but {len(annotation_ids)} annotation ids")
    metadata = {name: str(metadata[name]) for name in METADATA if metadata.get(name) not in (None, "")}
    return PredictionFile(path, metadata, keys, annotation_ids, arrays, form)


def _array(path: str, name: str, values, count: int) -> np.ndarray:
    shape = FIELD_SHAPES[name]
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PredictionFileError(f"{path}: {name} is not a numeric array of per-sample shape {shape} "
                                  "(rows of different lengths, or not numbers)") from None
    if array.shape != (count, *shape):
        if array.size == count * int(np.prod(shape, dtype=np.int64)) and array.ndim >= 1 and len(array) == count:
            return array.reshape(count, *shape)  # e.g. joints flattened to 126 values a sample
        raise PredictionFileError(f"{path}: {name} has shape {array.shape}, expected ({count}, "
                                  f"{', '.join(map(str, shape))}) (one row per sample)")
    return array


# --- reading ---

def read_predictions(path: Path) -> PredictionFile:
    """Read and check one prediction file (.parquet, .json or .npz); PredictionFileError names what is wrong."""
    path = Path(path)
    readers = {".parquet": _read_parquet, ".json": _read_json, ".npz": _read_npz}
    if path.suffix.lower() not in readers:
        raise PredictionFileError(f"{path}: unknown file type {path.suffix!r}; prediction files are "
                                  f"{', '.join(SUFFIXES)}")
    try:
        columns, metadata = readers[path.suffix.lower()](path)
    except PredictionFileError:
        raise
    except (OSError, ValueError, pa.ArrowException) as error:
        raise PredictionFileError(f"{path}: cannot be read as {path.suffix[1:]}: {error}") from None
    return _checked(str(path), columns, metadata)


def _read_parquet(path: Path) -> tuple[dict, dict]:
    table = pq.read_table(path)
    metadata = {key.decode(): value.decode() for key, value in (table.schema.metadata or {}).items()
                if key.decode() in METADATA}
    columns = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if column.null_count:
            raise PredictionFileError(f"{path}: column {name} has {column.null_count} null values")
        columns[name] = (_leaf_values(path, name, column) if name in FIELD_SHAPES
                         else column.to_numpy(zero_copy_only=False))
    return columns, metadata


def _leaf_values(path: Path, name: str, column: pa.Array) -> np.ndarray:
    """A (nested) list column → (N, ...) numpy, checking that every row has the same length at each level."""
    shape, values = [len(column)], column
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or \
            pa.types.is_fixed_size_list(values.type):
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            raise PredictionFileError(f"{path}: column {name} has rows of different lengths "
                                      f"({int(lengths.min())} to {int(lengths.max())} values)")
        if values.null_count or (hasattr(values, "values") and values.flatten().null_count):
            raise PredictionFileError(f"{path}: column {name} has null values")
        shape.append(int(lengths[0]) if len(lengths) else 0)
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).reshape(shape)


def _read_json(path: Path) -> tuple[dict, dict]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or not isinstance(document.get("predictions"), list):
        raise PredictionFileError(f"{path}: expected an object with a \"predictions\" list (and \"dataset\", "
                                  "\"split\")")
    entries = document["predictions"]
    names = set().union(*(entry.keys() for entry in entries if isinstance(entry, dict))) if entries else set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != names:
            lacking = sorted(names - set(entry)) if isinstance(entry, dict) else "it is not an object"
            raise PredictionFileError(f"{path}: predictions[{index}] lacks {lacking} "
                                      "(every entry holds the same fields)")
    columns = {name: [entry[name] for entry in entries] for name in names}
    metadata = {name: document[name] for name in METADATA if name in document}
    extra = sorted(set(document) - set(METADATA) - {"predictions", "format_version"})
    if extra:
        raise PredictionFileError(f"{path}: unknown top-level fields {extra}; allowed: {['predictions', *METADATA]}")
    return columns, metadata


def _read_npz(path: Path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    metadata = {name: str(contents.pop(name)) for name in METADATA if name in contents and contents[name].ndim == 0}
    contents.pop("format_version", None)
    return contents, metadata


# --- writing ---

def write_predictions(path: Path, predictions: PredictionFile) -> Path:
    """Write `predictions` as .parquet, .json or .npz (by suffix): float32 arrays, ids, metadata."""
    path = Path(path)
    metadata = {**predictions.metadata, "format_version": str(PREDICTIONS_FORMAT_VERSION)}
    ids = {}
    if predictions.keys is not None:
        ids["key"] = list(predictions.keys)
    if predictions.annotation_ids is not None:
        ids["annotation_id"] = np.asarray(predictions.annotation_ids, np.int64)
    arrays = {name: np.asarray(value, np.float32) for name, value in predictions.arrays.items()}
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        columns = {name: pa.array(value, pa.string() if name == "key" else pa.int64()) for name, value in ids.items()}
        columns.update({name: _nested(value) for name, value in arrays.items()})
        table = pa.table(columns).replace_schema_metadata(metadata)
        save_with(path, lambda handle: pq.write_table(table, handle))
    elif suffix == ".json":
        rows = [{**{name: (value[i] if name == "key" else int(value[i])) for name, value in ids.items()},
                 **{name: value[i].tolist() for name, value in arrays.items()}} for i in range(len(predictions))]
        write_json(path, {**metadata, "predictions": rows})
    elif suffix == ".npz":
        with atomic_file(path) as handle:
            np.savez_compressed(handle, **{name: np.asarray(value) for name, value in ids.items()}, **arrays,
                                **{name: np.array(value) for name, value in metadata.items()})
    else:
        raise PredictionFileError(f"{path}: unknown file type {path.suffix!r}; "
                                  f"prediction files are {', '.join(SUFFIXES)}")
    return path


def _nested(values: np.ndarray) -> pa.Array:
    """(N, *shape) float32 → a nested fixed-size list column (a plain float column for per-sample scalars)."""
    array = pa.array(np.ascontiguousarray(values).ravel())
    for size in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array
