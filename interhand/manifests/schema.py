"""The only pyarrow schemas of the project: manifest.parquet and errors.parquet (SHARD_FORMAT.md §5).

One manifest row per sample: where its members are (shard, byte offsets, sizes, CRC-32) and every field of
the sample as a typed column, so samples can be selected with pyarrow or duckdb without opening a tar.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from interhand.shard_format.records import RECORD_FIELDS, RECORD_FROM_ANN, ann_values, record_values
from interhand.shard_format.sample import SampleInfo
from interhand.shard_format.version import FORMAT_VERSION

__all__ = ["MANIFEST_SCHEMA", "ERRORS_SCHEMA", "MEMBER_COLUMNS", "ARRAY_COLUMNS", "ARROW_TYPES", "manifest_table",
           "manifest_arrays", "schema_metadata"]

# RECORD_FIELDS' element types as Arrow types.
ARROW_TYPES = {"string": pa.string(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(),
               "int64": pa.int64(), "float32": pa.float32()}


def _array(kind: str, shape: tuple[int, ...]) -> pa.DataType:
    """Nested fixed-size list of `kind`, e.g. _array("float32", (42, 3)); the element type itself for shape ()."""
    element = ARROW_TYPES[kind]
    for size in reversed(shape):
        element = pa.list_(element, size)
    return element


# (prefix) -> the image, json and ann members each get <prefix>_offset/_size/_crc32 columns.
MEMBER_COLUMNS = ("image", "json", "ann")

_LOCATION = [
    ("key", pa.string()), ("shard", pa.string()), ("shard_index", pa.int32()), ("position", pa.int32()),
    ("image_member", pa.string()),
    *[(f"{member}_{what}", kind) for member in MEMBER_COLUMNS
      for what, kind in (("offset", pa.int64()), ("size", pa.int64()), ("crc32", pa.uint32()))],
    # What the image member holds (SHARD_FORMAT.md §4): `baseline` (the source re-encoded losslessly, same
    # pixels) or `source` (its bytes), why the source was kept, and the provenance of both files.
    ("image_encoding", pa.string()), ("image_encoding_reason", pa.string()), ("image_sha256", pa.string()),
    ("source_file", pa.string()), ("source_size", pa.int64()), ("source_sha256", pa.string()),
]
# The content columns: the sample's fields, exactly as its `.json` record holds them (shard_format.RECORD_FIELDS).
_CONTENT = [(name, _array(kind, shape)) for name, kind, shape in RECORD_FIELDS]

# The content columns made from the `.ann` records alone (what `interhand verify` recomputes from the shards).
ARRAY_COLUMNS = tuple(name for name, _, _ in RECORD_FIELDS if name in RECORD_FROM_ANN or name.startswith("num_valid_"))


def schema_metadata() -> dict[bytes, bytes]:
    return {b"format_version": str(FORMAT_VERSION).encode()}


def _required(columns: list[tuple[str, pa.DataType]]) -> list[pa.Field]:
    """Non-nullable fields (Parquet `required`): SHARD_FORMAT.md §5 promises that no column is ever null, and the
    schema says so to every reader (duckdb, Hugging Face, Croissant). The list columns' elements keep Arrow's
    default element field (`pa.list_(type, n)`): never null either, and an element field of its own would make
    these types differ from the ones an Arrow reader builds. Folders written before declared every column nullable;
    readers accept both (nothing compares a file's nullability; the values are the same)."""
    return [pa.field(name, kind, nullable=False) for name, kind in columns]


MANIFEST_SCHEMA = pa.schema(_required(_LOCATION + _CONTENT), metadata=schema_metadata())

# One row per rejected input annotation. `capture`, `camera` and `hand_type` (the manifest's types) say where it
# was, so that errors per camera or per capture need errors.parquet alone: -1 / "" where unknown (STB, RHD, COCO
# input, or an annotation rejected before they were read).
ERRORS_SCHEMA = pa.schema(_required([
    ("source_file", pa.string()), ("annotation_id", pa.int64()), ("key", pa.string()), ("capture", pa.int32()),
    ("camera", pa.string()), ("hand_type", pa.string()), ("stage", pa.string()), ("reason", pa.string()),
]), metadata=schema_metadata())


def _column(values, kind: pa.DataType) -> pa.Array:
    """One column from record_values' list (scalars) or (n, *shape) numpy array."""
    if not isinstance(values, np.ndarray):
        return pa.array(values, type=kind)
    array = pa.array(np.ascontiguousarray(values).ravel())
    for size in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array


def manifest_table(locations: dict[str, list], infos: list[SampleInfo], subset: str, records: np.ndarray) -> pa.Table:
    """Manifest rows, built column by column: `locations` holds the location columns (key, shard, member
    offsets, ...); the content columns come from the samples' SampleInfos, `subset` and `.ann` records
    (n, ANN_FLOATS) float32 through record_values, as the `.json` records do (so they cannot disagree)."""
    values = dict(locations) if infos else {name: [] for name, _ in _LOCATION}
    values.update(record_values(records, infos, subset))
    columns = [_column(values[name], kind) for name, kind in _LOCATION + _CONTENT]
    return pa.Table.from_arrays(columns, schema=MANIFEST_SCHEMA)


def manifest_arrays(records: np.ndarray) -> dict[str, pa.Array]:
    """The manifest's ARRAY_COLUMNS of `.ann` records (n, ANN_FLOATS): what manifest_table writes, and what
    `interhand verify` recomputes from the shards to check the manifest against them."""
    values = ann_values(records)
    kinds = dict(_CONTENT)
    return {name: _column(values[name], kinds[name]) for name in ARRAY_COLUMNS}
