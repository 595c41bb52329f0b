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
import pyarrow.parquet as pq

from interhand.outputs import atomic_file, save_with, write_json
from interhand.skeleton import NUM_JOINTS

__all__ = ["PredictionFile", "FORMS", "FIELD_SHAPES", "METADATA", "PredictionFileError", "read_predictions",
           "write_predictions", "SUFFIXES", "MAX_SAMPLES", "MAX_KEY_CHARS", "form_of"]

PREDICTIONS_FORMAT_VERSION = 1
# Bounds checked before a file's arrays are read (docs/scoring.md, "Limits"): a split of InterHand2.6M holds at most
# ~1.4 M samples (train, 30 fps); `interhand score` passes the split's own count instead where its shards can be read.
MAX_SAMPLES = 2_000_000
MAX_KEY_CHARS = 256
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


def form_of(path: str, names: set[str]) -> str:
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


def _checked(path: str, columns: dict, metadata: dict, where: str = "row {}") -> PredictionFile:
    """Columns (name -> array-like over samples) and metadata → a checked PredictionFile.

    `where` names sample i in an error where the file has no keys ("row {}", "predictions[{}]")."""
    form = form_of(path, set(columns) | set(metadata))
    missing = [name for name in _REQUIRED_METADATA if not metadata.get(name)]
    if missing:
        raise PredictionFileError(f"{path}: the file does not name its {' and '.join(missing)} (Parquet: schema "
                                  "metadata; JSON: top-level fields; NPZ: 0-d arrays), so it cannot be checked "
                                  "against the shards")
    if not any(name in columns for name in ID_FIELDS):
        raise PredictionFileError(f"{path}: no id column: give `key` (the shards' sample key) or `annotation_id`")
    keys = _keys(path, columns["key"], where) if "key" in columns else None
    annotation_ids = None
    if "annotation_id" in columns:
        annotation_ids = _numbers(path, "annotation_id", columns["annotation_id"], (), where, integers=True)
        annotation_ids = annotation_ids.astype(np.int64)
    count = len(keys) if keys is not None else len(annotation_ids)
    if count == 0:
        raise PredictionFileError(f"{path}: no predictions")
    if annotation_ids is not None and len(annotation_ids) != count:
        raise PredictionFileError(f"{path}: {count} keys but {len(annotation_ids)} annotation ids")

    def sample(index: int) -> str:
        return f"{where.format(index)} (key {keys[index]!r})" if keys is not None else where.format(index)

    arrays = {}
    for name in FIELD_SHAPES:
        if name in columns:
            arrays[name] = _array(path, name, columns[name], count, sample)
    if "hand_type_prob" in arrays:
        probabilities = arrays["hand_type_prob"]
        outside = ~(np.isfinite(probabilities) & (probabilities >= 0) & (probabilities <= 1)).all(axis=1)
        if outside.any():
            first = int(np.argmax(outside))
            raise PredictionFileError(f"{path}: {sample(first)}: hand_type_prob {probabilities[first].tolist()} is not "
                                      f"two probabilities in [0, 1] ({int(outside.sum())} samples so)")
    metadata = {name: str(metadata[name]) for name in METADATA if metadata.get(name) not in (None, "")}
    return PredictionFile(path, metadata, keys, annotation_ids, arrays, form)


def _keys(path: str, values, where: str) -> list[str]:
    """The key column: strings (a number or a boolean is refused, not converted), each at most MAX_KEY_CHARS."""
    keys = values.tolist() if isinstance(values, np.ndarray) else list(values)
    for index, key in enumerate(keys):
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            shown = repr(key)[:40]
            raise PredictionFileError(f"{path}: {where.format(index)}: key {shown} is not a sample key (a string of "
                                      f"1 to {MAX_KEY_CHARS} characters)")
    return keys


def _array(path: str, name: str, values, count: int, sample) -> np.ndarray:
    """A field's values → (count, *FIELD_SHAPES[name]) float32 or float64; a flat row of the same size (Parquet's
    126 values) is unflattened; any other shape (a transposed (N, 2, 42) too) is refused, never reshaped."""
    shape = FIELD_SHAPES[name]
    return _numbers(path, name, values, shape, sample, count=count).reshape(count, *shape)


def _numbers(path: str, name: str, values, shape: tuple, where, integers: bool = False,
             count: int | None = None) -> np.ndarray:
    """Values of one field (numpy, or JSON's nested lists) → float32 or float64 as stored, other numbers as float64
    (int64 if `integers`), checked: per-sample shape `shape` or flat, numbers only (a boolean, a string or null is
    refused, not converted).

    `where`: a format string or a function naming sample i."""
    name_sample = where.format if isinstance(where, str) else where
    wanted = "integers" if integers else "numbers"
    if isinstance(values, np.ndarray):
        array = values
        if array.dtype.kind not in ("iu" if integers else "iuf") or array.dtype.itemsize > 8:
            raise PredictionFileError(f"{path}: {name} holds {array.dtype} values, not {wanted} (refused, not "
                                      "converted)")
    else:
        try:
            array = np.array(values, dtype=object)  # pointers only: JSON's values are already Python objects
        except ValueError:
            array = np.empty(0)  # rows of different lengths below the first level: the shape check names it
    count = len(values) if count is None else count
    flat = int(np.prod(shape, dtype=np.int64))
    if array.shape not in ((count, *shape), (count, flat)):
        raise PredictionFileError(f"{path}: {name} has shape {array.shape if array.size else 'ragged'}, expected "
                                  f"({count}, {', '.join(map(str, shape))}) (one row per sample; refused, not "
                                  "reshaped)")
    if array.dtype == object:
        array = _typed(path, name, array, integers, name_sample)
    if not integers and array.dtype in (np.float32, np.float64):
        return array  # as stored: scoring converts a chunk at a time (a split's float32 → float64 is ~1 GB, #31)
    return array.astype(np.int64 if integers else np.float64)


def _typed(path: str, name: str, objects: np.ndarray, integers: bool, name_sample) -> np.ndarray:
    """An object array of JSON values → numbers, each an int or a float (bool, a subclass of int, is refused)."""
    allowed = {int} if integers else {int, float}
    flat = objects.ravel().tolist()
    types = set(map(type, flat))
    if types - allowed:
        bad = next(i for i, value in enumerate(flat) if type(value) not in allowed)
        raise PredictionFileError(f"{path}: {name_sample(int(np.unravel_index(bad, objects.shape)[0]))}: {name} "
                                  f"holds {_shown(flat[bad])}, not {'an integer' if integers else 'a number'} "
                                  "(refused, not converted)")
    limit = 2**63 - 1 if integers else 1.7e308
    too_large = [i for i, value in enumerate(flat) if type(value) is int and abs(value) > limit][:1] \
        if int in types else []
    if too_large:
        raise PredictionFileError(f"{path}: {name_sample(int(np.unravel_index(too_large[0], objects.shape)[0]))}: "
                                  f"{name} holds an integer too large for {'int64' if integers else 'float64'}")
    return np.array(flat, dtype=np.int64 if integers else np.float64).reshape(objects.shape)


def _shown(value) -> str:
    text = json.dumps(value) if isinstance(value, (bool, type(None))) else repr(value)
    return f"{type(value).__name__} {text[:40]}"


# --- reading: the checks before any array is inflated live in prediction_readers.py ---

def read_predictions(path: Path, max_samples: int | None = None) -> PredictionFile:
    """Read and check one prediction file (.parquet, .json, .npz, or mmpose's --dump .pkl) of at most `max_samples`
    samples (default MAX_SAMPLES); PredictionFileError names what is wrong, before any array of an oversized file is
    inflated."""
    from interhand.eval.prediction_readers import read_columns  # it imports this module's names

    path = Path(path)
    columns, metadata, where = read_columns(path, MAX_SAMPLES if max_samples is None else max_samples)
    return _checked(str(path), columns, metadata, where)


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
