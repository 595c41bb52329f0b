"""dataset.json, a split folder's record (SHARD_FORMAT.md §1): its one type, `DatasetJson`, written and read here.

`write_dataset_json` writes it last of the folder's own files (then the published files and SHA256SUMS follow).
`read_dataset_json` is where every reader (both loaders, train, eval, score, verify) opens a shard folder, so it
refuses, with one line naming the file, a folder that is not exactly what its dataset.json says as far as that
can be seen without reading the data: a missing dataset.json (never written, or removed because the folder is
being rewritten), a dataset.json that is a symlink (as every file of the folder), a key missing or of another
type, `shards` that do not add up to `counts` (a shard dropped or added by hand: a reader would silently serve
part of the split), an unfinished run (`complete` false) unless accepted, a shard or index name that is not a
plain file name inside the folder, a listed file that is missing, a symlink, or of another size than recorded,
or a missing SHA256SUMS or published file (the run stopped before its end; SHARD_FORMAT.md §1.2). Contents
(SHA-256, CRC-32, offsets) are `interhand verify`'s job, but for what the loaders check when they open the
folder (`interhand.manifests.index_check`: the manifest's SHA-256 and the indexes against it).
"""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

from interhand.outputs import write_text
from interhand.shard_format.ann_codec import ANN_BYTES, ANN_DTYPE, ANN_LAYOUT
from interhand.shard_format.names import (
    CHECKSUMS_FILE,
    DATASET_FILE,
    PUBLISHED_FILES,
    RECORDED_FILES,
    check_plain_file_name,
)
from interhand.shard_format.version import FORMAT_VERSION, check_format_version

__all__ = ["Counts", "ShardRecord", "FileRecord", "DatasetJson", "IncompleteShardsError",
           "write_dataset_json", "load_dataset_json", "read_dataset_json", "file_sha256"]

class IncompleteShardsError(ValueError):
    """dataset.json says the run did not complete (it failed --max-errors); refused unless accepted."""


@dataclass(frozen=True)
class Counts:
    input_annotations: int  # = samples + errors
    samples: int
    errors: int
    shards: int


@dataclass(frozen=True)
class ShardRecord:
    """One tar of the split, in shard order."""

    name: str     # <split>-000000.tar, a plain file name in the folder
    index: str    # its DALI index (index_name)
    samples: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class FileRecord:
    """One of RECORDED_FILES (manifest.parquet, errors.parquet) as written."""

    bytes: int
    sha256: str


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, as dataset.json (shards, `files`) and SHA256SUMS record it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ann_section() -> dict:
    """The `.ann` layout, so that a reader without this package can unpack the records."""
    return {"dtype": ANN_DTYPE.str, "bytes": ANN_BYTES,
            "fields": {name: {"offset": offset, "shape": list(shape)} for name, (offset, shape) in ANN_LAYOUT.items()}}


@dataclass(frozen=True)
class DatasetJson:
    """What dataset.json holds, key for key (the file lists them in this order, with `format_version`, `key_prefix`
    and `ann` between). `config`, `sources`, `image_encodings` and `package` stay the JSON objects they are."""

    dataset: str
    subset: str
    split: str
    layout: str                          # the annotation layout read (InterHand2.6M v1.0 / v0.0, ...)
    key_prefix: str
    counts: Counts
    shards: tuple[ShardRecord, ...]
    sources: tuple[dict, ...]            # {"path", "bytes"} per annotation file read
    image_members: tuple[str, ...]       # the image members present (jpg, png)
    image_encodings: dict                # IMAGE_ENCODINGS value -> samples
    joint_names: tuple[str, ...]
    skeleton_parents: tuple[int, ...]
    config: dict                         # the PreprocessConfig of the run, as a dict
    command_line: tuple[str, ...]
    package: dict                        # {"name", "version"} of the writer
    parts: int                           # --part jobs stitched
    complete: bool                       # False when the run failed --max-errors
    error_fraction: float                # errors / input annotations
    max_errors: float
    files: dict                          # RECORDED_FILES name -> FileRecord
    format_version: int = FORMAT_VERSION
    ann: dict = field(default_factory=_ann_section)

    def to_json(self) -> str:
        """The file's text: keys in their fixed order, indent 1, a final newline (a re-run writes the same bytes)."""
        record = {
            "format_version": self.format_version, "dataset": self.dataset, "subset": self.subset,
            "split": self.split, "layout": self.layout, "key_prefix": self.key_prefix,
            "counts": vars(self.counts), "shards": [vars(shard) for shard in self.shards],
            "sources": list(self.sources), "image_members": list(self.image_members),
            "image_encodings": self.image_encodings, "ann": self.ann, "joint_names": list(self.joint_names),
            "skeleton_parents": list(self.skeleton_parents), "config": self.config,
            "command_line": list(self.command_line), "package": self.package, "parts": self.parts,
            "complete": self.complete, "error_fraction": self.error_fraction, "max_errors": self.max_errors,
            "files": {name: vars(record) for name, record in self.files.items()},
        }
        return json.dumps(record, indent=1) + "\n"


def write_dataset_json(shard_dir: Path, record: DatasetJson) -> None:
    """dataset.json of `shard_dir`, replaced atomically (a reader sees the old file, none, or the new one)."""
    write_text(Path(shard_dir) / DATASET_FILE, record.to_json())  # via DATASET_FILE.tmp, never through a link


def _damaged(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what} (damaged dataset.json; re-run `interhand shards`)")


def _typed(record: dict, key: str, kinds: type | tuple[type, ...], path: Path, where: str = ""):
    """record[key] if it is of `kinds` (a bool only where `kinds` is bool), else a one-line ValueError naming it."""
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) != (kinds is bool) or not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise _damaged(path, f"`{where}{key}` is missing or not of type {names}")
    return value


def _count(record: dict, key: str, path: Path, where: str) -> int:
    value = _typed(record, key, int, path, where)
    if value < 0:
        raise _damaged(path, f"`{where}{key}` is negative")
    return value


def _parse(record: dict, path: Path) -> DatasetJson:
    """The typed record of a loaded dataset.json whose format version is this code's."""
    counts = _typed(record, "counts", dict, path)
    shards = _typed(record, "shards", list, path)
    files = _typed(record, "files", dict, path)
    if set(files) != set(RECORDED_FILES):
        raise _damaged(path, f"`files` must record {', '.join(RECORDED_FILES)}")
    shard_records = []
    for number, shard in enumerate(shards):
        where = f"shards[{number}]."
        if not isinstance(shard, dict):
            raise _damaged(path, f"`shards[{number}]` is not an object")
        shard_records.append(ShardRecord(
            check_plain_file_name(shard.get("name"), f"{path}: {where}name"),
            check_plain_file_name(shard.get("index"), f"{path}: {where}index"),
            _count(shard, "samples", path, where), _count(shard, "bytes", path, where),
            _typed(shard, "sha256", str, path, where)))
    return DatasetJson(
        dataset=_typed(record, "dataset", str, path), subset=_typed(record, "subset", str, path),
        split=_typed(record, "split", str, path), layout=_typed(record, "layout", str, path),
        key_prefix=_typed(record, "key_prefix", str, path),
        counts=Counts(*(_count(counts, key, path, "counts.") for key in ("input_annotations", "samples", "errors",
                                                                          "shards"))),
        shards=tuple(shard_records), sources=tuple(_typed(record, "sources", list, path)),
        image_members=tuple(_typed(record, "image_members", list, path)),
        image_encodings=_typed(record, "image_encodings", dict, path),
        joint_names=tuple(_typed(record, "joint_names", list, path)),
        skeleton_parents=tuple(_typed(record, "skeleton_parents", list, path)),
        config=_typed(record, "config", dict, path), command_line=tuple(_typed(record, "command_line", list, path)),
        package=_typed(record, "package", dict, path), parts=_count(record, "parts", path, ""),
        complete=_typed(record, "complete", bool, path),
        error_fraction=_typed(record, "error_fraction", (int, float), path),
        max_errors=_typed(record, "max_errors", (int, float), path),
        files={name: FileRecord(_count(files[name], "bytes", path, f"files.{name}."),
                                _typed(files[name], "sha256", str, path, f"files.{name}."))
               for name in files},
        format_version=record["format_version"], ann=_typed(record, "ann", dict, path))


def load_dataset_json(path: Path) -> DatasetJson:
    """The typed record of one dataset.json file, its format version checked (FormatVersionError, ValueError or
    FileNotFoundError, one line naming the file); the folder around it is not looked at."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a finished shard directory (run `interhand shards`; "
                                "a folder being rewritten has none until its run ends)")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid UTF-8 JSON ({error}); the folder is damaged, re-run `interhand shards`")
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object; the folder is damaged, re-run `interhand shards`")
    check_format_version(record.get("format_version"), str(path))
    return _parse(record, path)


def _check_file(shard_dir: Path, name: str, recorded_bytes: int | None) -> None:
    """The listed file `name` is a regular file (not a symlink) of `recorded_bytes` bytes."""
    path = Path(shard_dir) / name
    try:
        status = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: listed in dataset.json but missing (re-run `interhand shards`)") from None
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path}: a symlink or not a regular file; shard folders hold their own files (refused)")
    if recorded_bytes is not None and status.st_size != recorded_bytes:
        raise ValueError(f"{path}: {status.st_size} bytes, dataset.json records {recorded_bytes}: modified, "
                         "truncated or being rewritten (refused; `interhand verify` says more)")


def _check_shards_add_up(record: DatasetJson, path: Path) -> None:
    """The listed shards are as many, and hold as many samples, as `counts` says: a dataset.json whose `shards` lost
    (or gained) an entry would have every reader serve, and eval score, part of the split as if it were all of it."""
    listed = sum(shard.samples for shard in record.shards)
    if len(record.shards) != record.counts.shards or listed != record.counts.samples:
        raise _damaged(path, f"`shards` lists tars: {len(record.shards)}, samples: {listed}; `counts` says tars: "
                             f"{record.counts.shards}, samples: {record.counts.samples} (refused)")


def read_dataset_json(shard_dir: Path, accept_incomplete: bool = False) -> DatasetJson:
    """dataset.json of a finished shard directory, after the checks above (FormatVersionError, ValueError,
    IncompleteShardsError or FileNotFoundError, each one line naming the file)."""
    path = Path(shard_dir) / DATASET_FILE
    if path.is_symlink():  # refused before it is read, as every other file of the folder
        _check_file(shard_dir, DATASET_FILE, None)
    record = load_dataset_json(path)
    _check_shards_add_up(record, path)
    if not record.complete and not accept_incomplete:
        raise IncompleteShardsError(
            f"{path}: the run that wrote it did not complete (error fraction {record.error_fraction!r} > "
            f"--max-errors {record.max_errors!r}; see errors.parquet); pass --accept-incomplete to use it")
    for shard in record.shards:
        _check_file(shard_dir, shard.name, shard.bytes)
        _check_file(shard_dir, shard.index, None)
    for name in RECORDED_FILES:
        _check_file(shard_dir, name, record.files[name].bytes)
    for name in (*PUBLISHED_FILES, CHECKSUMS_FILE):  # written after dataset.json, SHA256SUMS last
        if not (Path(shard_dir) / name).is_file():
            raise FileNotFoundError(f"{Path(shard_dir) / name} not found: the run that wrote {path} stopped before "
                                    "its end; re-run `interhand shards`")
        _check_file(shard_dir, name, None)
    return record
