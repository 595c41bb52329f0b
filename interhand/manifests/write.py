"""Write manifest and error tables: atomically (temp name, then rename), schema from schema.py only."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from interhand.manifests.schema import ERRORS_SCHEMA, MANIFEST_SCHEMA
from interhand.outputs import atomic_file

__all__ = ["FRAGMENT_SUFFIX", "ROW_GROUP_ROWS", "write_table", "write_tables", "write_manifest", "write_errors",
           "concat_tables", "fragment_table"]

FRAGMENT_SUFFIX = ".arrow"  # resume-state pieces (.work/): Arrow IPC files, see write_table


ROW_GROUP_ROWS = 1 << 16  # rows per Parquet row group: a writer holds one group, a reader decodes one at a time


def write_table(rows_or_table, path: Path, schema: pa.Schema, fragment: bool = False) -> Path:
    """Rows (dicts) or a Table → Parquet at `path`, visible only once complete. `fragment`: a resume-state
    piece that finalize reads back (.work/, named *FRAGMENT_SUFFIX): an uncompressed Arrow IPC file instead,
    written ~2.5x and read back (memory-mapped) ~30x faster than plain Parquet; the finished files are
    zstd-compressed Parquet."""
    table = rows_or_table if isinstance(rows_or_table, pa.Table) else pa.Table.from_pylist(list(rows_or_table),
                                                                                          schema=schema)
    if not fragment:
        return write_tables([table], path, schema)
    table = _checked(table, schema, path)
    with atomic_file(Path(path)) as sink:  # a full disk leaves no partial file behind; a planted link is refused
        with pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)
    return Path(path)


def write_tables(tables: Iterable[pa.Table], path: Path, schema: pa.Schema) -> Path:
    """Tables of `schema`'s rows, in order, → one zstd-compressed Parquet file at `path`, written as they come in
    row groups of ROW_GROUP_ROWS (the last one shorter): memory holds one row group, not the file's rows (a train
    manifest is ~3 GB of Arrow, #31). Visible only once complete."""
    path = Path(path)
    with atomic_file(path) as sink, pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        pending, rows, written = [], 0, False
        for table in tables:
            pending.append(_checked(table, schema, path))
            rows += table.num_rows
            if rows >= ROW_GROUP_ROWS:
                whole = pa.concat_tables(pending)
                cut = rows - rows % ROW_GROUP_ROWS
                writer.write_table(whole.slice(0, cut), row_group_size=ROW_GROUP_ROWS)
                pending, rows, written = [whole.slice(cut)], rows - cut, True
        if rows or not written:  # the rest; an empty file gets its one empty row group, as pq.write_table writes
            writer.write_table(pa.concat_tables(pending) if pending else schema.empty_table(),
                               row_group_size=ROW_GROUP_ROWS)
    return path


def _checked(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """`table` as `schema` (cast), refusing a null in a column the schema declares required."""
    for field in schema:  # from_pylist and from_arrays do not check it; Parquet would write the nulls of a
        column = table.column(field.name) if field.name in table.column_names else None  # `required` column
        if column is not None and not field.nullable and column.null_count:  # as values; a cast refuses them unnamed
            raise ValueError(f"{path}: column {field.name} has {column.null_count} null value(s); the schema "
                             "(SHARD_FORMAT.md §5) allows none")
    return table.cast(schema) if table.schema != schema else table


def write_manifest(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, MANIFEST_SCHEMA, fragment)


def write_errors(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, ERRORS_SCHEMA, fragment)


def fragment_table(path: Path, schema: pa.Schema) -> pa.Table:
    """A fragment written by write_table(..., fragment=True), memory-mapped: its pages are read when touched and
    let go with the table."""
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    return table if table.schema == schema else table.cast(schema)


def concat_tables(paths: Iterable[Path], schema: pa.Schema) -> pa.Table:
    """The fragments at `paths`, in order, as one table."""
    tables = [fragment_table(path, schema) for path in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()
