"""Write manifest and error tables: atomically (temp name, then rename), schema from schema.py only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from interhand.manifests.schema import ERRORS_SCHEMA, MANIFEST_SCHEMA

__all__ = ["write_table", "write_manifest", "write_errors", "concat_tables"]


def write_table(rows_or_table, path: Path, schema: pa.Schema, fragment: bool = False) -> Path:
    """Rows (dicts) or a Table → Parquet at `path`, visible only once complete. `fragment`: a resume-state
    piece that finalize reads back (.work/): written plain, without compression, dictionaries or statistics,
    about 4x faster; the finished files are zstd-compressed."""
    table = rows_or_table if isinstance(rows_or_table, pa.Table) else pa.Table.from_pylist(list(rows_or_table),
                                                                                          schema=schema)
    table = table.cast(schema) if table.schema != schema else table
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    if fragment:
        pq.write_table(table, temporary, compression="none", use_dictionary=False, write_statistics=False)
    else:
        pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)
    return path


def write_manifest(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, MANIFEST_SCHEMA, fragment)


def write_errors(rows_or_table, path: Path, fragment: bool = False) -> Path:
    return write_table(rows_or_table, path, ERRORS_SCHEMA, fragment)


def concat_tables(paths: Iterable[Path], schema: pa.Schema) -> pa.Table:
    tables = [pq.read_table(path, schema=schema) for path in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()
