"""`interhand verify`: re-read every shard and check it against dataset.json and the manifest.

Checks: format version; every listed shard and index present; shard SHA-256 and size as recorded at write
time; every manifest member present in its tar at the recorded offset with the recorded size and CRC-32;
no member the manifest does not list; the DALI index equal to the one the manifest implies. On request
(`sources_root`), every sample's source image is re-read: its size and SHA-256 as the manifest records them,
the member's SHA-256, and a re-encoded member's decoded pixels equal to the source's (SHARD_FORMAT.md §4.3).
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from interhand.manifests.read import read_dataset_json, read_manifest
from interhand.manifests.schema import MEMBER_COLUMNS
from interhand.preprocess.shard_writer import dali_index_text, file_sha256

__all__ = ["verify_shard_dir"]


def _expected_members(rows: list[dict]) -> dict[str, tuple[int, int, int]]:
    """member name -> (offset, size, crc32) from manifest rows."""
    expected = {}
    for row in rows:
        for column in MEMBER_COLUMNS:
            ext = row["image_member"] if column == "image" else column
            expected[f"{row['key']}.{ext}"] = (row[f"{column}_offset"], row[f"{column}_size"], row[f"{column}_crc32"])
    return expected


def _index_entries(rows: list[dict]) -> list:
    entries = []
    for row in rows:
        members = [(row["image_member"] if column == "image" else column, row[f"{column}_offset"],
                    row[f"{column}_size"]) for column in MEMBER_COLUMNS]
        entries.append((row["key"], sorted(members)))
    return entries


def _check_tar(path: Path, expected: dict[str, tuple[int, int, int]]) -> list[str]:
    problems, seen = [], set()
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as archive:
            for member in archive:
                seen.add(member.name)
                if member.name not in expected:
                    problems.append(f"{path.name}: member {member.name} is not in the manifest")
                    continue
                offset, size, crc = expected[member.name]
                if member.offset_data != offset or member.size != size:
                    problems.append(f"{path.name}: {member.name} at offset {member.offset_data} size {member.size}, "
                                    f"manifest says offset {offset} size {size}")
                    continue
                data = archive.extractfile(member).read()
                if zlib.crc32(data) != crc:
                    problems.append(f"{path.name}: {member.name} CRC-32 {zlib.crc32(data):08x} != manifest {crc:08x}")
    except (tarfile.TarError, OSError, EOFError) as error:
        problems.append(f"{path.name}: unreadable tar ({error})")
    problems += [f"{path.name}: member {name} listed in the manifest is missing" for name in sorted(set(expected) - seen)]
    return problems


def _decoded(data: bytes) -> Optional[np.ndarray]:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _check_source(row: dict, member: bytes, root: Path) -> str:
    """'' if the stored image member and its source file agree as the manifest says, else the problem."""
    where = f"{row['shard']}: {row['key']}.{row['image_member']}"
    if hashlib.sha256(member).hexdigest() != row["image_sha256"]:
        return f"{where}: SHA-256 differs from the manifest's image_sha256"
    path = root / row["source_file"]
    try:
        source = path.read_bytes()
    except OSError as error:
        return f"{where}: source {path} unreadable ({error.strerror})"
    if len(source) != row["source_size"] or hashlib.sha256(source).hexdigest() != row["source_sha256"]:
        return f"{where}: source {path} is not the file it was made from (size or SHA-256 differs)"
    if row["image_encoding"] == "source":
        return "" if member == source else f"{where}: stored as the source's bytes but differs from {path}"
    stored, original = _decoded(member), _decoded(source)
    if stored is None or original is None or stored.shape != original.shape or not np.array_equal(stored, original):
        return f"{where}: decoded pixels differ from those of its source {path}"
    return ""


def _check_sources(path: Path, rows: list[dict], root: Path) -> list[str]:
    problems = []
    with open(path, "rb") as tar:
        for row in rows:
            tar.seek(row["image_offset"])
            problem = _check_source(row, tar.read(row["image_size"]), root)
            if problem:
                problems.append(problem)
    return problems


def verify_shard_dir(shard_dir: Path, sources_root: Optional[Path] = None) -> list[str]:
    """Problems found (empty list = the directory verifies). Raises FormatVersionError on a foreign version.
    With `sources_root` (the dataset folder the shards were made from), every source image is checked too."""
    shard_dir = Path(shard_dir)
    dataset = read_dataset_json(shard_dir)
    manifest = read_manifest(shard_dir).drop_columns(["joints_img", "joints_cam_mm", "joints_world_mm"]).to_pylist()
    problems = []
    if len(manifest) != dataset["counts"]["samples"]:
        problems.append(f"manifest has {len(manifest)} rows, dataset.json counts {dataset['counts']['samples']}")
    by_shard: dict[str, list[dict]] = {}
    for row in manifest:
        by_shard.setdefault(row["shard"], []).append(row)
    for shard in dataset["shards"]:
        path, rows = shard_dir / shard["name"], sorted(by_shard.pop(shard["name"], []), key=lambda r: r["position"])
        if not path.is_file():
            problems.append(f"{shard['name']}: missing")
            continue
        if path.stat().st_size != shard["bytes"] or file_sha256(path) != shard["sha256"]:
            problems.append(f"{shard['name']}: SHA-256 or size differs from dataset.json (modified or corrupt)")
        problems += _check_tar(path, _expected_members(rows))
        if sources_root is not None:
            problems += _check_sources(path, rows, Path(sources_root))
        index_path = shard_dir / shard["index"]
        if not index_path.is_file() or index_path.read_text() != dali_index_text(_index_entries(rows)):
            problems.append(f"{shard['index']}: DALI index missing or not matching the manifest")
    problems += [f"manifest rows point at unknown shard {name}" for name in sorted(by_shard)]
    return problems
