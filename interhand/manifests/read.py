"""Read a shard directory's dataset.json, manifest.parquet and errors.parquet, checking the format version."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from interhand.shard_format import check_format_version

__all__ = ["read_dataset_json", "read_manifest", "read_errors"]


def read_dataset_json(shard_dir: Path) -> dict:
    """dataset.json of a shard directory; FormatVersionError names found and expected versions."""
    path = Path(shard_dir) / "dataset.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a finished shard directory (run `interhand shards`)")
    record = json.loads(path.read_text())
    check_format_version(record.get("format_version"), str(path))
    return record


def _read(path: Path, columns: list[str] | None) -> pa.Table:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    metadata = pq.read_schema(path).metadata or {}
    found = metadata.get(b"format_version")
    check_format_version(int(found) if found is not None and found.isdigit() else found, str(path))
    return pq.read_table(path, columns=columns)


def read_manifest(shard_dir: Path, columns: list[str] | None = None) -> pa.Table:
    return _read(Path(shard_dir) / "manifest.parquet", columns)


def read_errors(shard_dir: Path) -> pa.Table:
    return _read(Path(shard_dir) / "errors.parquet", None)
