"""Write manifest and error tables: atomically (temp name, then rename), schema from schema.py only."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from interhand.manifests.schema import ERRORS_SCHEMA, MANIFEST_SCHEMA
from interhand.outputs import atomic_file

__all__ = ["FRAGMENT_SUFFIX", "write_table", "write_manifest", "write_errors", "concat_tables"]

FRAGMENT_SUFFIX = ".arrow"  # resume-state pieces (.work/): Arrow IPC files, see write_table


def write_table(rows_or_table, path: Path, schema: pa.Schema, fragment: bool = False) -> Path:
    """Rows (dicts) or a Table → Parquet at `path`, visible only once complete. `fragment`: a resume-state
    piece that finalize reads back (.work/, named *FRAGMENT_SUFFIX): an uncompressed Arrow IPC file instead,
    written ~2.5x and read back (memory-mapped) ~30x faster than plain Parquet; the finished files are
    zstd-compressed Parquet."""
    table = rows_or_table if isinstance(rows_or_table, pa.Table) else pa.Table.from_pylist(list(rows_or_table),
                                                                                          schema=schema)
    table = table.cast(schema) if table.schema != schema else table
    for field, column in zip(schema, table.columns):  # from_pylist and from_arrays do not check it; Parquet would
        if not field.nullable and column.null_count:  # write the nulls of a `required` column as values
            raise ValueError(f"{path}: column {field.name} has {column.null_count} null value(s); the schema "
                             "(SHARD_FORMAT.md §5) allows none")
    path = Path(path)
    with atomic_file(path) as sink:  # a full disk leaves no partial file behind; a planted link is refused
        if fragment:
            with pa.ipc.new_file(sink, schema) as writer:
                writer.write_table(table)
        else:
            pq.write_table(table, sink, compression="zstd")
    return path


def write_manifest(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, MANIFEST_SCHEMA, fragment)


def write_errors(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, ERRORS_SCHEMA, fragment)


def concat_tables(paths: Iterable[Path], schema: pa.Schema) -> pa.Table:
    """The fragments at `paths` (written by write_table(..., fragment=True)), in order, as one table."""
    tables = [pa.ipc.open_file(pa.memory_map(str(path))).read_all() for path in paths]
    tables = [table if table.schema == schema else table.cast(schema) for table in tables]
    return pa.concat_tables(tables) if tables else schema.empty_table()
