"""Read a shard directory's dataset.json, manifest.parquet and errors.parquet, checking the format version.

`read_dataset_json` is where every reader (both loaders, train, eval, verify) opens a shard folder, so it
refuses, with one line naming the file, a folder that is not exactly what its dataset.json says as far as
that can be seen without reading the data: a missing dataset.json (never written, or removed because the
folder is being rewritten), an unfinished run (`complete` false) unless accepted, a shard or index name that
is not a plain file name inside the folder, a listed file that is missing, a symlink, or of another size
than recorded, or a missing SHA256SUMS or published file (the run stopped before its end; SHARD_FORMAT.md §1.2).
Contents (SHA-256, CRC-32, offsets) are `interhand verify`'s job.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interhand.shard_format import (CHECKSUMS_FILE, PUBLISHED_FILES, RECORDED_FILES, check_format_version,
                                    check_plain_file_name)

__all__ = ["read_dataset_json", "read_manifest", "read_errors", "IncompleteShardsError"]


class IncompleteShardsError(ValueError):
    """dataset.json says the run did not complete (it failed --max-errors); refused unless accepted."""


def _load(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a finished shard directory (run `interhand shards`; "
                                "a folder being rewritten has none until its run ends)")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid UTF-8 JSON ({error}); the folder is damaged, re-run `interhand shards`")
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object; the folder is damaged, re-run `interhand shards`")
    return record


def _check_file(shard_dir: Path, name: object, recorded_bytes: object, where: str) -> None:
    """The listed file `name` is a plain name, a regular file (not a symlink) of `recorded_bytes` bytes."""
    path = Path(shard_dir) / check_plain_file_name(name, where)
    try:
        status = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: listed in dataset.json but missing (re-run `interhand shards`)") from None
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path}: a symlink or not a regular file; shard folders hold their own files (refused)")
    if recorded_bytes is not None and status.st_size != recorded_bytes:
        raise ValueError(f"{path}: {status.st_size} bytes, dataset.json records {recorded_bytes}: modified, "
                         "truncated or being rewritten (refused; `interhand verify` says more)")


def read_dataset_json(shard_dir: Path, accept_incomplete: bool = False) -> dict:
    """dataset.json of a finished shard directory, after the checks above (FormatVersionError, ValueError,
    IncompleteShardsError or FileNotFoundError, each one line naming the file)."""
    path = Path(shard_dir) / "dataset.json"
    record = _load(path)
    check_format_version(record.get("format_version"), str(path))
    if record.get("complete") is not True and not accept_incomplete:
        raise IncompleteShardsError(
            f"{path}: the run that wrote it did not complete (error fraction {record.get('error_fraction')!r} > "
            f"--max-errors {record.get('max_errors')!r}; see errors.parquet); pass --accept-incomplete to use it")
    shards = record.get("shards")
    if not isinstance(shards, list):
        raise ValueError(f"{path}: `shards` is not a list; the folder is damaged, re-run `interhand shards`")
    for number, shard in enumerate(shards):
        where = f"{path}: shards[{number}]"
        if not isinstance(shard, dict) or not all(isinstance(shard.get(k), int) and shard[k] >= 0
                                                  for k in ("samples", "bytes")):
            raise ValueError(f"{where}: needs non-negative integer `samples` and `bytes` (damaged dataset.json)")
        _check_file(shard_dir, shard.get("name"), shard["bytes"], f"{where}.name")
        _check_file(shard_dir, shard.get("index"), None, f"{where}.index")
    files = record.get("files")
    if not isinstance(files, dict) or set(files) != set(RECORDED_FILES):
        raise ValueError(f"{path}: `files` must record {', '.join(RECORDED_FILES)} (damaged dataset.json)")
    for name in RECORDED_FILES:
        _check_file(shard_dir, name, files[name].get("bytes") if isinstance(files[name], dict) else -1,
                    f"{path}: files")
    for name in (*PUBLISHED_FILES, CHECKSUMS_FILE):  # written after dataset.json, SHA256SUMS last
        if not (Path(shard_dir) / name).is_file():
            raise FileNotFoundError(f"{Path(shard_dir) / name} not found: the run that wrote {path} stopped before "
                                    "its end; re-run `interhand shards`")
        _check_file(shard_dir, name, None, f"{path}: {name}")
    return record


def _read(path: Path, columns: list[str] | None) -> pa.Table:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    metadata = pq.read_schema(path).metadata or {}
    found = metadata.get(b"format_version")
    check_format_version(int(found) if found is not None and found.isdigit() else found, str(path))
    return pq.read_table(path, columns=columns)


def read_manifest(shard_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """manifest.parquet (or the given columns); its `shard` values, when read, must be plain file names."""
    path = Path(shard_dir) / "manifest.parquet"
    table = _read(path, columns)
    if "shard" in table.column_names:
        for name in pc.unique(table["shard"]).to_pylist():
            check_plain_file_name(name, f"{path}: column shard")
    return table


def read_errors(shard_dir: Path) -> pa.Table:
    return _read(Path(shard_dir) / "errors.parquet", None)
