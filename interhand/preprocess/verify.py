"""`interhand verify`: re-read every shard and check it against dataset.json and the manifest.

Checks: what every reader checks when it opens the folder (`read_dataset_json`: format version, a complete run,
plain file names, no symlinks, sizes); the SHA-256 of manifest.parquet and errors.parquet as recorded in
dataset.json; the counts in dataset.json recomputed from the manifest and the errors (samples, errors, inputs,
shards, per-shard samples, the error fraction); the manifest's rows stored in shard order and, within a shard, by
position (SHARD_FORMAT.md §5: so it is read a shard at a time); no file or folder in the folder that is not one of
its files; the card, croissant.json, shardindex.json and SHARD_FORMAT.md equal to the texts dataset.json and this
package imply (they are regenerated: `published_texts`); SHA256SUMS listing exactly those with their SHA-256
(SHARD_FORMAT.md §1.2); every shard's SHA-256 and size as recorded at write time; every manifest member present in
its tar at the recorded offset with the recorded size and CRC-32; no member the manifest does not list; the tar
byte for byte as the writer lays it out (its fixed headers, zero padding and end blocks); every `.ann`
and `.json` record of this format version and with its own key; the manifest's content columns (arrays, hand_type)
equal to what the shards' `.ann` records give; every `.ann` record's `hand_present` recomputed from its
`joint_valid_raw`, with an absent hand's values zeros (SHARD_FORMAT.md §4.4); the DALI index equal to the one the
manifest implies.

What it cannot see: a folder rewritten consistently by hand (shards, manifest and dataset.json's digests). Record
dataset.json's SHA-256 (`verify` prints it) to pin a folder.

On request (`sources_root`), every sample's source image is re-read: its size and SHA-256 as the manifest
records them, the member's SHA-256, and a re-encoded member's decoded pixels equal to the source's
(SHARD_FORMAT.md §4.3).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tarfile
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interhand import __version__
from interhand.config import PreprocessConfig, current_field_names
from interhand.manifests.index_check import recorded_file_problems
from interhand.manifests.read import manifest_by_shard, read_errors, read_manifest
from interhand.manifests.schema import ARRAY_COLUMNS, MEMBER_COLUMNS, manifest_arrays
from interhand.preprocess.publish import folder_files, published_texts, read_checksums
from interhand.preprocess.run import exit_with_main
from interhand.preprocess.tar_writer import ustar_header
from interhand.progress import progress
from interhand.shard_format.ann_codec import ANN_BYTES, ANN_DTYPE, ANN_FLOATS, ANN_LAYOUT, check_ann, set_hand_presence
from interhand.shard_format.dali_index import dali_index_text
from interhand.shard_format.dataset_json import DatasetJson, file_sha256, read_dataset_json
from interhand.shard_format.names import ANN_MEMBER, CHECKSUMS_FILE, DATASET_FILE, JSON_MEMBER, RECORDED_FILES
from interhand.shard_format.version import FORMAT_VERSION
from interhand.skeleton import HAND_TYPE_VECTORS

__all__ = ["verify_shard_dir", "check_recorded_files", "check_published_files", "check_checksums", "split_folders",
           "verify_split_folder", "verdict", "recorded_data_folder"]

# What the member, index and source checks read of each row (as Python values, a shard's rows at a time), and what
# the content check reads (as Arrow columns).
_ROW_COLUMNS = ["key", "shard", "position", "image_member",
                *[f"{column}_{field}" for column in MEMBER_COLUMNS for field in ("offset", "size", "crc32")],
                "image_encoding", "image_sha256", "source_file", "source_size", "source_sha256"]
_CONTENT_COLUMNS = ["hand_type", *ARRAY_COLUMNS]
BLOCK = tarfile.BLOCKSIZE
_ZEROS = bytes(BLOCK)


def check_recorded_files(shard_dir: Path, dataset: DatasetJson, names: tuple[str, ...] = RECORDED_FILES) -> list[str]:
    """Problems with the SHA-256 of the files dataset.json's `files` records (manifest.parquet, errors.parquet)."""
    return recorded_file_problems(shard_dir, dataset, names)


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


# Parses a whole `.json` record (every number's syntax checked) without making a float of each of its ~500 numbers:
# verify reads only its format_version (an int) and key, and the float objects were two thirds of the parse (#31).
_JSON_SYNTAX = json.JSONDecoder(parse_float=len)


def _record_problem(name: str, data: bytes) -> str | None:
    """The `.ann` / `.json` record `name` is not of this format version or not of its own key."""
    key, _, ext = name.partition(".")
    try:
        if ext == ANN_MEMBER:
            check_ann(data, name)
        elif ext == JSON_MEMBER:
            record = _JSON_SYNTAX.decode(data.decode("utf-8"))
            if not isinstance(record, dict):
                return f"{name}: a JSON {type(record).__name__}, not an object"
            if record.get("format_version") != FORMAT_VERSION or record.get("key") != key:
                return (f"{name}: format_version {record.get('format_version')!r} key {record.get('key')!r}, "
                        f"expected {FORMAT_VERSION} and {key}")
    except ValueError as error:  # FormatVersionError, a wrong size, bad JSON or UTF-8
        return str(error)
    return None


def _check_tar_as_written(path: Path, rows: list[dict], anns: dict[str, bytes]) -> list[str] | None:
    """The shard checked as `interhand shards` writes it, from the manifest's rows (in position order) alone: each
    sample's members in extension order, each header the writer's fixed ustar header of its name and size, each
    member's data at the recorded offset and of the recorded CRC-32, zeros between, then the end-of-archive blocks.
    Every byte of the file is accounted for, so no member can hide between them. Problems of the members' data
    (CRC-32, records), or None at the first byte not laid out as written: `_check_tar` then walks the tar to say what
    is there. One read a sample, and no tarfile parse (#31: 2.59 M samples)."""
    problems, cursor = [], 0
    with open(path, "rb", buffering=1 << 20) as tar:
        length = os.fstat(tar.fileno()).st_size
        for row in rows:
            members = sorted((row["image_member"] if column == "image" else column, column)
                             for column in MEMBER_COLUMNS)
            layout, start = [], cursor
            for ext, column in members:
                size = row[f"{column}_size"]
                if row[f"{column}_offset"] != cursor + BLOCK or not isinstance(size, int) or not 0 <= size <= length:
                    return None
                layout.append((f"{row['key']}.{ext}", size, cursor + BLOCK - start, row[f"{column}_crc32"]))
                cursor += BLOCK + size + (-size % BLOCK)
            if cursor > length:  # never read past the file (a forged size in a resealed manifest)
                return None
            block = tar.read(cursor - start)
            if len(block) != cursor - start:
                return None
            view = memoryview(block)
            for member, size, at, crc in layout:
                padding = -size % BLOCK
                if (view[at - BLOCK:at] != ustar_header(member, size)
                        or view[at + size:at + size + padding] != _ZEROS[:padding]):
                    return None
                data = block[at:at + size]
                if zlib.crc32(data) != crc:
                    problems.append(f"{path.name}: {member} CRC-32 {zlib.crc32(data):08x} != manifest {crc:08x}")
                    continue
                problem = _record_problem(member, data)
                if problem:
                    problems.append(f"{path.name}: {problem}")
                elif member.endswith("." + ANN_MEMBER):
                    anns[row["key"]] = data
        end = tar.read()
    if len(end) < 2 * BLOCK or end.count(0) != len(end) or (cursor + len(end)) % tarfile.RECORDSIZE:
        return None
    return problems


def _check_tar(path: Path, expected: dict[str, tuple[int, int, int]], anns: dict[str, bytes]) -> list[str]:
    """Problems of one tar against the manifest's members, walked with tarfile (where the tar is not laid out as
    written: `_check_tar_as_written`); fills `anns` (key -> `.ann` bytes) on the way."""
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
                    continue
                problem = _record_problem(member.name, data)
                if problem:
                    problems.append(f"{path.name}: {problem}")
                elif member.name.endswith("." + ANN_MEMBER):
                    anns[member.name.partition(".")[0]] = data
    except (tarfile.TarError, OSError, EOFError) as error:
        problems.append(f"{path.name}: unreadable tar ({error})")
    problems += [f"{path.name}: member {name} listed in the manifest is missing"
                 for name in sorted(set(expected) - seen)]
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


def _check_counts(dataset: DatasetJson, samples: int, per_shard: np.ndarray, errors: int) -> list[str]:
    """dataset.json's counts, recomputed from the manifest (`samples` rows, `per_shard[i]` of them in
    dataset.json's i-th shard) and the number of error rows."""
    counts, shards, problems = dataset.counts, dataset.shards, []
    recomputed = {"samples": samples, "errors": errors, "input_annotations": samples + errors, "shards": len(shards)}
    for name, value in recomputed.items():
        if getattr(counts, name) != value:
            problems.append(f"dataset.json counts {name} = {getattr(counts, name)!r}, the folder holds {value}")
    for shard, found in zip(shards, per_shard.tolist()):
        if shard.samples != found:
            problems.append(f"dataset.json says {shard.name} holds {shard.samples} samples, the manifest {found}")
    inputs = samples + errors
    fraction = errors / inputs if inputs else 0.0
    if dataset.error_fraction != fraction or dataset.complete != (fraction <= dataset.max_errors):
        problems.append(f"dataset.json error_fraction {dataset.error_fraction!r} / complete "
                        f"{dataset.complete!r} do not follow from {errors} errors of {inputs} inputs and "
                        f"max_errors {dataset.max_errors!r}")
    return problems


def _check_content(name: str, rows: pa.Table, anns: dict[str, bytes]) -> list[str]:
    """The manifest's content columns (the loaders' and eval's view) recomputed from the shard's `.ann` records:
    an edit of either that the digests miss (dataset.json resealed) shows up here."""
    keys = rows.column("key").to_pylist() if rows.num_columns else []
    if not keys or any(len(anns.get(key, b"")) != ANN_BYTES for key in keys):
        return []  # missing or bad records are reported by the member checks
    records = np.frombuffer(b"".join(anns[key] for key in keys), ANN_DTYPE).reshape(len(keys), ANN_FLOATS)
    problems = []
    for column, expected in manifest_arrays(records).items():
        stored = rows.column(column).combine_chunks()
        if not stored.equals(expected):
            row = next((i for i, (a, b) in enumerate(zip(stored.to_pylist(), expected.to_pylist())) if a != b), 0)
            problems.append(f"{name}: manifest column {column} of {keys[row]} differs from its .ann record")
    offset = ANN_LAYOUT["hand_type_onehot"][0]
    for key, hand_type, vector in zip(keys, rows.column("hand_type").to_pylist(), records[:, offset:offset + 2]):
        if tuple(vector.tolist()) != HAND_TYPE_VECTORS.get(hand_type):
            problems.append(f"{name}: manifest hand_type {hand_type!r} of {key} differs from its .ann record")
            break
    # `hand_present` follows `joint_valid_raw`, and an absent hand's values are zeros (SHARD_FORMAT.md §4.4).
    expected = records.copy()
    set_hand_presence(expected)
    differs = np.flatnonzero(((expected != records) & ~(np.isnan(expected) & np.isnan(records))).any(axis=1))
    if differs.size:
        problems.append(f"{name}: .ann record of {keys[differs[0]]} breaks the absent-hand rule (hand_present from "
                        f"joint_valid_raw, an absent hand's joints and depth 0; SHARD_FORMAT.md §4.4)")
    return problems


def _unlisted_files(shard_dir: Path, dataset: DatasetJson) -> list[str]:
    """Anything in the folder that is not one of its files (SHARD_FORMAT.md §1.2): a stale shard, a .tmp, .work/."""
    listed = {*folder_files(dataset), CHECKSUMS_FILE}
    return [f"{path.name}: not a file of this folder (a stale or foreign {'folder' if path.is_dir() else 'file'}; "
            "remove it)" for path in sorted(shard_dir.iterdir()) if path.name not in listed]


def _first_differing_line(found: str, expected: str) -> int:
    found_lines, expected_lines = found.splitlines(), expected.splitlines()
    return next((number for number, (a, b) in enumerate(zip(found_lines, expected_lines), 1) if a != b),
                min(len(found_lines), len(expected_lines)) + 1)


def check_published_files(shard_dir: Path, dataset: DatasetJson) -> list[str]:
    """The card, croissant.json, shardindex.json and SHARD_FORMAT.md are, byte for byte, what `write_published_files`
    writes from this dataset.json (the format document: as this package ships it): all are derived from it, so an
    edit of one (its license, a shard's URL) resealed in SHA256SUMS shows up here, one line per file naming its
    first differing line."""
    problems = []
    written_by = dataset.package.get("version") if isinstance(dataset.package, dict) else None
    hint = "" if written_by == __version__ else f", or written by interhand {written_by!r}, this is {__version__}"
    for name, expected in published_texts(dataset).items():
        try:
            found = (Path(shard_dir) / name).read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            found = None
        except FileNotFoundError:
            problems.append(f"{name}: missing (a folder written before interhand wrote it{hint}; re-run "
                            "`interhand shards` to rewrite it)")
            continue
        except OSError as error:
            problems.append(f"{name}: unreadable ({error.strerror})")
            continue
        if found is None:
            problems.append(f"{name}: not UTF-8 text; it should be the text dataset.json implies (edited or corrupt; "
                            "re-run `interhand shards` to rewrite it)")
        elif found != expected:
            problems.append(f"{name}: line {_first_differing_line(found, expected)} differs from the text dataset.json "
                            f"implies (edited by hand{hint}; re-run `interhand shards` to rewrite it)")
    return problems


def check_checksums(shard_dir: Path, dataset: DatasetJson) -> list[str]:
    """SHA256SUMS lists exactly the folder's files (folder_files) with their SHA-256. Files whose digest dataset.json
    records (shards, parquet files; checked against the files elsewhere) are compared with that record, the others
    are hashed here."""
    try:
        checksums = read_checksums(shard_dir)
    except FileNotFoundError:
        return [f"{CHECKSUMS_FILE}: missing (the run stopped before its end; re-run `interhand shards`)"]
    except (ValueError, UnicodeDecodeError) as error:
        return [f"{CHECKSUMS_FILE}: {error}"]
    expected = folder_files(dataset)
    problems = [f"{CHECKSUMS_FILE} does not list {name}" for name in expected if name not in checksums]
    problems += [f"{CHECKSUMS_FILE} lists {name}, which is not a file of this folder" for name in checksums
                 if name not in expected]
    recorded = {shard.name: shard.sha256 for shard in dataset.shards}
    recorded.update({name: dataset.files[name].sha256 for name in RECORDED_FILES})
    for name in expected:
        if name not in checksums:
            continue
        path = shard_dir / name
        digest = recorded.get(name) or (file_sha256(path) if path.is_file() else None)
        if digest is None:
            problems.append(f"{name}: listed in {CHECKSUMS_FILE} but missing")
        elif digest != checksums[name]:
            problems.append(f"{name}: SHA-256 differs from {CHECKSUMS_FILE} (edited, replaced or corrupt)")
    return problems


def verify_shard_dir(shard_dir: Path, accept_incomplete: bool = False, bar=None,
                     sources_root: Optional[Path] = None, workers: int = 1) -> list[str]:
    """Problems found (empty list = the directory verifies). Raises ValueError (FormatVersionError,
    IncompleteShardsError) or FileNotFoundError, one line each, where the folder cannot be opened at all.
    `bar` (an `interhand.progress.progress`) counts the samples of each shard once it is checked. With
    `sources_root` (the dataset folder the shards were made from), every source image is checked too.
    `workers` > 1: the shards are checked in that many processes, the problems listed in the same order."""
    shard_dir = Path(shard_dir)
    dataset = read_dataset_json(shard_dir, accept_incomplete)
    problems = check_recorded_files(shard_dir, dataset)
    if problems:  # the manifest or the errors cannot be trusted: nothing below would mean anything
        return problems
    order, per_shard, samples, problems_of_order = _manifest_order(shard_dir, dataset)
    problems += _check_counts(dataset, samples, per_shard, read_errors(shard_dir).num_rows)
    problems += problems_of_order
    problems += _unlisted_files(shard_dir, dataset)
    problems += check_published_files(shard_dir, dataset)
    problems += check_checksums(shard_dir, dataset)
    tables = _tables_by_shard(shard_dir, order, per_shard, _ROW_COLUMNS + _CONTENT_COLUMNS)
    jobs = ((str(shard_dir), shard.name, shard.sha256, shard.index, table, sources_root)
            for shard, table in zip(dataset.shards, tables))
    for rows, found in _run_shard_checks(jobs, workers):
        problems += found
        if bar is not None:
            bar.update(rows)
    return problems


def _run_shard_checks(jobs, workers: int):
    """(rows, problems) of each job, in order: here, or in `workers` processes with at most two shards each in
    flight (memory stays at a few shards' rows)."""
    if workers <= 1:
        yield from (_check_shard(*job) for job in jobs)
        return
    # forkserver: workers start from a clean process (the caller may run threads); each ends with this process.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=exit_with_main,
                             initargs=(os.getpid(),)) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(_check_shard, *job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _check_shard(shard_dir: str, name: str, sha256: str, index: str, table: pa.Table,
                 sources_root: Optional[Path]) -> tuple[int, list[str]]:
    """(rows, problems) of one shard: its SHA-256, its members against its manifest rows, its manifest content
    against its `.ann` records, its sources (with `sources_root`) and its DALI index."""
    path, rows, problems = Path(shard_dir) / name, table.select(_ROW_COLUMNS).to_pylist(), []
    if file_sha256(path) != sha256:
        problems.append(f"{name}: SHA-256 differs from dataset.json (modified or corrupt)")
    anns: dict[str, bytes] = {}
    as_written = _check_tar_as_written(path, rows, anns)
    if as_written is None:
        anns.clear()
        as_written = _check_tar(path, _expected_members(rows), anns) or [
            f"{name}: every member reads as the manifest says, but the tar is not byte for byte as `interhand shards` "
            "writes it (a member header, padding or the end blocks differ; SHARD_FORMAT.md §2)"]
    problems += as_written
    problems += _check_content(name, table.select(["key", *_CONTENT_COLUMNS]), anns)
    if sources_root is not None:
        problems += _check_sources(path, rows, Path(sources_root))
    if (Path(shard_dir) / index).read_bytes() != dali_index_text(_index_entries(rows)).encode():
        problems.append(f"{index}: DALI index not matching the manifest")
    return len(rows), problems


def _manifest_order(shard_dir: Path, dataset: DatasetJson) -> tuple[np.ndarray | None, np.ndarray, int, list[str]]:
    """(the manifest's row numbers in dataset.json's shard order and, within a shard, by `position`, None when
    the rows are stored in that order; the rows per shard; all its rows; problems): read as two Arrow columns, never
    a Python object per row (a train manifest is 1.36 M rows, #31). Rows naming a shard dataset.json does not list
    are left out of the order, and named; rows stored out of that order (SHARD_FORMAT.md §5) are a problem, and are
    checked in it all the same."""
    table = read_manifest(shard_dir, columns=["shard", "position"])
    names = pa.array([shard.name for shard in dataset.shards], pa.string())
    codes = pc.index_in(table["shard"], value_set=names).combine_chunks()
    listed = codes.is_valid().to_numpy(zero_copy_only=False)
    problems = [f"manifest rows point at unknown shard {name}"
                for name in sorted(pc.unique(table["shard"].filter(pc.invert(codes.is_valid()))).to_pylist())]
    code = codes.fill_null(len(names)).to_numpy().astype(np.int64)
    position = table["position"].combine_chunks().to_numpy().astype(np.int64)
    order = np.lexsort((position, code))[:int(listed.sum())]
    misplaced = np.flatnonzero(order != np.arange(len(order)))
    if misplaced.size == 0:
        order = None
    elif problems == []:
        problems.append(f"manifest.parquet: row {int(misplaced[0])} is out of order (rows are stored in shard order "
                        "and, within a shard, by position: SHARD_FORMAT.md §5)")
    return order, np.bincount(code[listed], minlength=len(names)), table.num_rows, problems


def _tables_by_shard(shard_dir: Path, order: np.ndarray | None, per_shard: np.ndarray, columns: list[str]):
    """Each shard's manifest rows (`columns`), by position: streamed a shard at a time when the manifest is stored
    in that order (`order` None: it is, as written), else taken from the whole columns in `order`."""
    counts = per_shard.tolist()
    if order is None:
        yield from manifest_by_shard(shard_dir, counts, columns)
        return
    table, start = read_manifest(shard_dir, columns=columns), 0
    for count in counts:
        yield table.take(pa.array(order[start:start + count]))
        start += count


def split_folders(path: Path) -> list[Path]:
    """The split folders `interhand verify PATH` checks: PATH itself when it holds dataset.json, else every folder
    below it that does (PATH is a shards root), sorted; none inside a run's resume state (`.work/`)."""
    path = Path(path)
    if (path / DATASET_FILE).is_file():
        return [path]
    return sorted(found.parent for found in path.rglob(DATASET_FILE) if ".work" not in found.parts)


def recorded_data_folder(dataset: DatasetJson) -> Path | None:
    """The dataset folder the shards were made from, where dataset.json's `config` records one (its `data`; `root`
    in folders written before the config fields were renamed); None where it records the folder's name alone (every
    folder written since #29, SHARD_FORMAT.md §5): a name is never looked up in the working directory."""
    data = str(current_field_names(PreprocessConfig, dataset.config).get("data", ""))
    return Path(data) if os.sep in data.rstrip(os.sep) else None


def verify_split_folder(folder: Path, accept_incomplete: bool = False, check_sources: bool = False,
                        source_root: Optional[Path] = None, workers: int = 1) -> list[str]:
    """`verify_shard_dir` with a progress bar over the folder's samples; a folder that cannot be opened at all is
    one problem. With `check_sources`, the source images are re-read from `source_root`, else from the dataset
    folder dataset.json records."""
    try:
        dataset = read_dataset_json(folder, accept_incomplete)
        root = (source_root or recorded_data_folder(dataset)) if check_sources else None
        if check_sources and root is None:
            return [f"{folder / DATASET_FILE} names the dataset folder only ({dataset.config.get('data')!r}, no path): "
                    "pass --source-root DATA_DIR, the folder the shards were made from"]
        with progress(total=dataset.counts.samples, desc=f"verify {folder.name}", unit="sample") as bar:
            return verify_shard_dir(folder, accept_incomplete, bar, root, workers)
    except (FileNotFoundError, ValueError) as error:
        return [str(error)]


def verdict(folder: Path, problems: list[str]) -> str:
    """A folder's one line: it verifies (with dataset.json's SHA-256, to pin it), or how many problems it has."""
    if problems:
        return f"{len(problems)} problem(s)"
    return f"all shards verify (dataset.json SHA-256 {file_sha256(folder / DATASET_FILE)})"
