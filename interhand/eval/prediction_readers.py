"""The three prediction file formats read with memory bounded by construction (docs/scoring.md, "Limits").

What a file declares is checked before anything it declares is allocated: an NPZ member's .npy header (shape,
dtype) and the zip's own sizes, a Parquet file's row count, column types and leaf value counts from its metadata,
a JSON file's size on disk. A file that passes allocates at most about its split's samples × the fields' sizes.
Each refusal is one PredictionFileError naming the file (and the member, column or entry).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.eval.mmpose_dump import read_mmpose_dump
from interhand.eval.predictions import (
    FIELD_SHAPES,
    ID_FIELDS,
    MAX_KEY_CHARS,
    MAX_SAMPLES,
    METADATA,
    PredictionFileError,
    form_of,
)
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.names import split_dir

__all__ = ["read_columns", "read_metadata", "split_sample_bound", "MAX_JSON_BYTES", "JSON_BYTES_PER_SAMPLE"]

# JSON is parsed whole into Python objects (~3x its size): files above MAX_JSON_BYTES (about 100,000 samples) or
# above JSON_BYTES_PER_SAMPLE per sample the split holds are refused before reading; Parquet and NPZ have no cap.
MAX_JSON_BYTES = 256 * 2**20
JSON_BYTES_PER_SAMPLE = 16 * 2**10
_MAX_METADATA_BYTES = 4096  # a 0-d string member (dataset, split, name, ...)
_KNOWN = set(FIELD_SHAPES) | set(ID_FIELDS) | set(METADATA) | {"format_version"}
# What a truncated, corrupt or hostile archive raises while it is read (zip CRC, inflate, EOF, encryption).
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                pa.ArrowException, RecursionError)


def read_columns(path: Path, max_samples: int) -> tuple[dict, dict, str]:
    """(columns, metadata, how an error names sample i) of a .parquet, .json or .npz file of ≤ max_samples rows, or
    of mmpose's `--dump` pickle (.pkl, .pickle; read with an allow-list, interhand/eval/mmpose_dump.py)."""
    readers = {".parquet": _read_parquet, ".json": _read_json, ".npz": _read_npz, ".pkl": read_mmpose_dump,
               ".pickle": read_mmpose_dump}
    suffix = path.suffix.lower()
    if suffix not in readers:
        raise PredictionFileError(f"{path}: unknown file type {path.suffix!r}; prediction files are "
                                  f"{', '.join(readers)}")
    if path.stat().st_size == 0:
        raise PredictionFileError(f"{path}: empty file (0 bytes), not a {suffix[1:]} prediction file")
    try:
        return readers[suffix](path, max_samples)
    except PredictionFileError:
        raise
    except RecursionError:
        raise PredictionFileError(f"{path}: cannot be read as {suffix[1:]}: nested too deeply") from None
    except _READ_ERRORS as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise PredictionFileError(f"{path}: cannot be read as {suffix[1:]} (truncated or corrupt?): {reason}") from None


def read_metadata(path: Path) -> dict:
    """The file's metadata (dataset, split, ...) without reading its arrays; {} where that needs a full parse (JSON)
    or the file is unreadable (read_columns then says why)."""
    try:
        if path.suffix.lower() == ".parquet":
            return _parquet_metadata(pq.ParquetFile(path).schema_arrow)
        if path.suffix.lower() == ".npz":
            with zipfile.ZipFile(path) as archive:
                members = [info for info in archive.infolist() if info.filename[:-4] in METADATA]
                headers = _npz_headers(path, archive, MAX_SAMPLES, members)
                return {name: str(_npz_member(archive, header)) for name, header in headers.items()}
    except (PredictionFileError, *_READ_ERRORS):
        pass
    return {}


def split_sample_bound(paths: list[Path], shards: str | Path, dataset: str | None, annot_subset: str | None,
                       split: str | None) -> int:
    """The most samples a prediction file of the split scored may hold: twice its dataset.json count plus 1,000 (so
    that a file repeating ids or holding others' still gets the error naming them), of the split asked for, else the
    first file's; MAX_SAMPLES where that cannot be read (the split's own checks then say why)."""
    metadata = read_metadata(Path(paths[0])) if paths else {}
    named = (dataset or metadata.get("dataset"), annot_subset or metadata.get("annot_subset") or "all",
             split or metadata.get("split"))
    if not all(named):
        return MAX_SAMPLES
    try:
        samples = read_dataset_json(split_dir(shards, *named), accept_incomplete=True).counts.samples
        return min(MAX_SAMPLES, 2 * samples + 1000)
    except (OSError, ValueError):
        return MAX_SAMPLES


def _too_many(where: str, found: str, max_samples: int) -> PredictionFileError:
    return PredictionFileError(f"{where}: {found}; a file for this split holds at most {max_samples} samples "
                               "(docs/scoring.md, Limits; refused before reading)")


# --- NPZ: every member's .npy header before any member's data ---

def _read_npz(path: Path, max_samples: int) -> tuple[dict, dict, str]:
    with zipfile.ZipFile(path) as archive:
        headers = _npz_headers(path, archive, max_samples)
        contents = {name: _npz_member(archive, header) for name, header in headers.items()}
    metadata = {name: str(contents.pop(name)) for name in METADATA if name in contents and contents[name].ndim == 0}
    contents.pop("format_version", None)
    return contents, metadata, "row {}"


def _npz_headers(path: Path, archive: zipfile.ZipFile, max_samples: int, members: list | None = None) -> dict:
    """name → (ZipInfo, shape, dtype) of each member (or of `members`), checked against what a prediction file can
    hold."""
    headers = {}
    for info in archive.infolist() if members is None else members:
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name is None or name not in _KNOWN:
            raise PredictionFileError(f"{path}: member {info.filename!r} is not a .npy array of a prediction field "
                                      f"({', '.join(sorted(_KNOWN))})")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)  # ValueError: not .npy
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member, max_header_size=10000)
            data_offset = member.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        _check_npz_member(path, name, shape, dtype, max_samples)
        if info.file_size != data_offset + nbytes:
            raise PredictionFileError(f"{path}: member {info.filename!r} declares {shape} {dtype} ({nbytes} bytes) "
                                      f"but holds {info.file_size - data_offset} bytes of data (truncated or padded)")
        headers[name] = (info, shape, dtype)
    counts = {name: shape[0] for name, (_, shape, _) in headers.items() if name not in METADATA and shape}
    if len(set(counts.values())) > 1:
        raise PredictionFileError(f"{path}: members hold different sample counts: {counts}")
    return headers


def _check_npz_member(path: Path, name: str, shape: tuple, dtype: np.dtype, max_samples: int) -> None:
    member = f"{path}: member {name}.npy ({shape} {dtype})"
    if dtype.hasobject:
        raise PredictionFileError(f"{member}: holds Python objects (refused; save plain arrays)")
    if name in METADATA or name == "format_version":
        if shape != () or dtype.itemsize > _MAX_METADATA_BYTES:
            raise PredictionFileError(f"{member}: metadata is one string (a 0-d array of at most "
                                      f"{_MAX_METADATA_BYTES} bytes)")
        return
    if not shape or shape[0] > max_samples:
        raise _too_many(member, f"declares {shape[0] if shape else 0} samples", max_samples)
    if name == "key":
        if shape != (shape[0],) or dtype.kind not in "US" or dtype.itemsize > 4 * MAX_KEY_CHARS:
            raise PredictionFileError(f"{member}: key is one string of at most {MAX_KEY_CHARS} characters a sample")
        return
    per_sample = (() if name == "annotation_id" else FIELD_SHAPES[name])
    flat = int(np.prod(per_sample, dtype=np.int64))
    if shape[1:] not in (per_sample, (flat,)):
        raise PredictionFileError(f"{member}: expected (N, {', '.join(map(str, per_sample))}) (one row per sample; "
                                  "refused, not reshaped)")
    integers = name == "annotation_id"
    if dtype.kind not in ("iu" if integers else "iuf") or dtype.itemsize > 8:
        raise PredictionFileError(f"{member}: holds {dtype} values, not {'integers' if integers else 'numbers'} "
                                  "(refused, not converted)")


def _npz_member(archive: zipfile.ZipFile, header: tuple) -> np.ndarray:
    with archive.open(header[0]) as member:
        return np.lib.format.read_array(member, allow_pickle=False, max_header_size=10000)


# --- Parquet: row count, column types and leaf value counts from the footer before any column is read ---

def _parquet_metadata(schema: pa.Schema) -> dict:
    return {key.decode(errors="replace"): value.decode(errors="replace")
            for key, value in (schema.metadata or {}).items() if key.decode(errors="replace") in METADATA}


def _read_parquet(path: Path, max_samples: int) -> tuple[dict, dict, str]:
    handle = pq.ParquetFile(path)
    rows, schema = handle.metadata.num_rows, handle.schema_arrow
    if rows > max_samples:
        raise _too_many(str(path), f"{rows} rows", max_samples)
    form_of(str(path), set(schema.names))  # unknown columns, fields of no form: refused before reading
    for name in schema.names:
        _check_parquet_column(path, name, schema.field(name).type)
    _check_value_counts(path, handle.metadata, schema.names)
    if "key" in schema.names:  # read as a dictionary: a long key repeated in every row is checked before decoding
        handle = pq.ParquetFile(path, read_dictionary=["key"])
    table = handle.read(use_pandas_metadata=False)
    columns = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if column.null_count:
            first = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
            raise PredictionFileError(f"{path}: row {first}: column {name} is null ({column.null_count} rows so)")
        if pa.types.is_dictionary(column.type):
            longest = pc.max(pc.utf8_length(column.dictionary)).as_py() or 0
            if longest > MAX_KEY_CHARS:
                raise PredictionFileError(f"{path}: column key holds a key of {longest} characters (keys are at most "
                                          f"{MAX_KEY_CHARS})")
            column = column.dictionary_decode()
        columns[name] = (_leaf_values(path, name, column) if name in FIELD_SHAPES
                         else column.to_numpy(zero_copy_only=False))
    return columns, _parquet_metadata(schema), "row {}"


def _check_parquet_column(path: Path, name: str, kind: pa.DataType) -> None:
    """Types from the schema: keys strings, annotation ids integers, fields nested lists of numbers (a string or
    boolean column is refused, never parsed)."""
    if name == "key":
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise PredictionFileError(f"{path}: column key is {kind}, not strings")
        return
    depth, leaf = 0, kind
    while pa.types.is_list(leaf) or pa.types.is_large_list(leaf) or pa.types.is_fixed_size_list(leaf):
        depth, leaf = depth + 1, leaf.value_type
    numeric = pa.types.is_integer(leaf) if name == "annotation_id" else (pa.types.is_integer(leaf) or
                                                                         pa.types.is_floating(leaf))
    shape = () if name == "annotation_id" else FIELD_SHAPES[name]
    if not numeric or depth not in ({len(shape), 1} if shape else {0}):
        raise PredictionFileError(f"{path}: column {name} is {kind}; expected "
                                  f"{'integers' if name == 'annotation_id' else 'numbers'} nested as "
                                  f"{shape or 'one value a row'} (strings are refused, not parsed)")


def _check_value_counts(path: Path, metadata: pq.FileMetaData, names: list[str]) -> None:
    """A list column's leaf values (the footer's per-chunk counts, nulls included) are at most rows × its size, and a
    key column's bytes at most rows × MAX_KEY_CHARS × 4: what reading it can allocate."""
    limits = {name: int(np.prod(FIELD_SHAPES[name], dtype=np.int64)) for name in names if name in FIELD_SHAPES}
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            name = chunk.path_in_schema.split(".")[0]
            if name in limits and chunk.num_values > row_group.num_rows * limits[name]:
                raise PredictionFileError(f"{path}: column {name} holds {chunk.num_values} values in row group {group} "
                                          f"of {row_group.num_rows} rows, more than {limits[name]} a row (refused "
                                          "before reading)")
            if name == "key" and chunk.total_uncompressed_size > row_group.num_rows * 4 * MAX_KEY_CHARS + 2**20:
                raise PredictionFileError(f"{path}: column key holds {chunk.total_uncompressed_size} bytes for "
                                          f"{row_group.num_rows} rows (keys are at most {MAX_KEY_CHARS} characters)")


def _leaf_values(path: Path, name: str, column: pa.Array) -> np.ndarray:
    """A (nested) list column → (N, ...) numpy, checking that every row has the same length at each level."""
    shape, values = [len(column)], column
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or \
            pa.types.is_fixed_size_list(values.type):
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            first = int(np.argmax(lengths != lengths[0]))
            raise PredictionFileError(f"{path}: row {first}: column {name} has rows of different lengths "
                                      f"({int(lengths.min())} to {int(lengths.max())} values)")
        if values.null_count or (hasattr(values, "values") and values.flatten().null_count):
            raise PredictionFileError(f"{path}: column {name} has null values")
        shape.append(int(lengths[0]) if len(lengths) else 0)
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).reshape(shape)


# --- JSON: size on disk before parsing; duplicate members, huge integers, deep nesting refused while parsing ---

def _read_json(path: Path, max_samples: int) -> tuple[dict, dict, str]:
    size, limit = path.stat().st_size, min(MAX_JSON_BYTES, max_samples * JSON_BYTES_PER_SAMPLE + 2**20)
    if size > limit:
        raise PredictionFileError(f"{path}: {size} bytes of JSON, over the limit of {limit} bytes for "
                                  f"{max_samples} samples (refused before reading; write Parquet or NPZ)")
    document = _parse_json(path, path.read_bytes().decode("utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("predictions"), list):
        raise PredictionFileError(f"{path}: expected an object with a \"predictions\" list (and \"dataset\", "
                                  "\"split\")")
    entries = document["predictions"]
    if len(entries) > max_samples:
        raise _too_many(str(path), f"{len(entries)} predictions", max_samples)
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
    return columns, metadata, "predictions[{}]"


def _parse_json(path: Path, text: str):
    """json.loads refusing a member given twice and an integer of more than 19 digits, naming the entry (entries
    are flat objects, so the n-th object completed is predictions[n])."""
    completed = [0]

    def members(pairs: list) -> dict:
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            key = dict(pairs).get("key")
            where = "the top-level object" if "predictions" in names else f"predictions[{completed[0]}]"
            raise PredictionFileError(f"{path}: {where}{f' (key {key!r})' if isinstance(key, str) else ''}: "
                                      f"member {repeated[0]!r} given twice (refused: which one counts is undefined)")
        completed[0] += 1
        return dict(pairs)

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > 19:
            raise PredictionFileError(f"{path}: predictions[{completed[0]}]: an integer of {len(text.lstrip('-'))} "
                                      "digits (refused: not an id nor a coordinate)")
        return int(text)

    return json.loads(text, object_pairs_hook=members, parse_int=integer)
