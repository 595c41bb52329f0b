"""Read a shard directory's manifest.parquet and errors.parquet, checking the format version.

A folder is opened with `interhand.shard_format.dataset_json.read_dataset_json` first (what every reader checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.shard_format.names import ERRORS_FILE, MANIFEST_FILE, check_plain_file_name
from interhand.shard_format.version import check_format_version

__all__ = ["read_manifest", "read_errors", "manifest_by_shard", "manifest_batches", "stream_batches", "column_numpy"]


def _read(path: Path, columns: list[str] | None) -> pa.Table:
    _check_version(path)
    return pq.read_table(path, columns=columns)


def _check_version(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    metadata = pq.read_schema(path).metadata or {}
    found = metadata.get(b"format_version")
    check_format_version(int(found) if found is not None and found.isdigit() else found, str(path))


def read_manifest(shard_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """manifest.parquet (or the given columns); its `shard` values, when read, must be plain file names."""
    path = Path(shard_dir) / MANIFEST_FILE
    table = _read(path, columns)
    if "shard" in table.column_names:
        for name in pc.unique(table["shard"]).to_pylist():
            check_plain_file_name(name, f"{path}: column shard")
    return table


def column_numpy(column: pa.ChunkedArray | pa.Array, dtype=np.float64) -> np.ndarray:
    """A manifest column as one numpy array, without a Python object per value: nested fixed-size lists →
    (N, *shape) `dtype` (null rows → NaN), other columns → (N,) as Arrow converts them (strings: objects)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_fixed_size_list(array.type):
        return array.to_numpy(zero_copy_only=False)
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    shape, values = [len(array)], array
    while pa.types.is_fixed_size_list(values.type):
        shape.append(values.type.list_size)
        size = values.type.list_size  # .values covers null rows' slots too (flatten() would drop them)
        values = values.values.slice(values.offset * size, len(values) * size)
    result = values.to_numpy(zero_copy_only=False).astype(dtype).reshape(shape)
    if nulls.any():
        result[nulls] = np.nan
    return result


def manifest_batches(shard_dir: Path, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """manifest.parquet's `columns`, `batch_size` rows at a time (`stream_batches`), its format version checked
    first: a split's columns without holding them (the shard column's names are not checked: ask read_manifest)."""
    path = Path(shard_dir) / MANIFEST_FILE
    _check_version(path)
    return stream_batches(path, batch_size, columns)


def read_errors(shard_dir: Path) -> pa.Table:
    return _read(Path(shard_dir) / ERRORS_FILE, None)


def stream_batches(path: Path, batch_size: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """A Parquet file's `columns`, `batch_size` rows at a time, read as a buffered stream: pyarrow's default
    `iter_batches` kept every row group's column chunks it had read (a 380 k-row val manifest's verify pass grew by
    ~210 MiB, #31); read as a stream, the Arrow memory stays at a batch's."""
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20).iter_batches(batch_size=batch_size,
                                                                                    columns=columns)


def manifest_by_shard(shard_dir: Path, counts: list[int], columns: list[str]) -> Iterator[pa.Table]:
    """The manifest's `columns`, `counts[i]` rows at a time: the rows are stored shard by shard (SHARD_FORMAT.md §5),
    so each shard's rows come in one slice while memory stays bounded by a shard's (a train manifest is GBs)."""
    batches = stream_batches(Path(shard_dir) / MANIFEST_FILE, 4096, columns)
    pending: list[pa.RecordBatch] = []
    buffered = 0
    for count in counts:
        while buffered < count:
            batch = next(batches, None)
            if batch is None:
                break
            pending.append(batch)
            buffered += batch.num_rows
        table = pa.Table.from_batches(pending, schema=pending[0].schema) if pending else pa.table({})
        yield table.slice(0, count)
        rest = table.slice(count)
        pending, buffered = rest.to_batches(), rest.num_rows
