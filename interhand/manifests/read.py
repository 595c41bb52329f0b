"""Read a shard directory's manifest.parquet and errors.parquet, checking the format version.

A folder is opened with `interhand.shard_format.dataset_json.read_dataset_json` first (what every reader checks).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.shard_format import ERRORS_FILE, MANIFEST_FILE, check_format_version, check_plain_file_name

__all__ = ["read_manifest", "read_errors"]


def _read(path: Path, columns: list[str] | None) -> pa.Table:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    metadata = pq.read_schema(path).metadata or {}
    found = metadata.get(b"format_version")
    check_format_version(int(found) if found is not None and found.isdigit() else found, str(path))
    return pq.read_table(path, columns=columns)


def read_manifest(shard_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """manifest.parquet (or the given columns); its `shard` values, when read, must be plain file names."""
    path = Path(shard_dir) / MANIFEST_FILE
    table = _read(path, columns)
    if "shard" in table.column_names:
        for name in pc.unique(table["shard"]).to_pylist():
            check_plain_file_name(name, f"{path}: column shard")
    return table


def read_errors(shard_dir: Path) -> pa.Table:
    return _read(Path(shard_dir) / ERRORS_FILE, None)
