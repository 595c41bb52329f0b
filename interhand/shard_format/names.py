"""The names in a shard folder (SHARD_FORMAT.md §1, §3): its path, the sample key, the shard, index and member
names, and the folder's other files."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["KEY_PREFIX", "MAX_ANNOTATION_ID", "KEY_PATTERN", "IMAGE_MEMBERS", "JSON_MEMBER", "ANN_MEMBER", "sample_key",
           "SHARD_SUFFIX", "INDEX_SUFFIX", "shard_name", "index_name", "split_dir", "DATASET_FILE", "MANIFEST_FILE",
           "ERRORS_FILE", "RECORDED_FILES",
           "CARD_FILE", "CROISSANT_FILE", "WIDS_INDEX_FILE", "PUBLISHED_FILES", "CHECKSUMS_FILE",
           "check_plain_file_name"]

# Key prefix per source; a key is `<prefix>-<split>-<annotation id, 9 digits>` (SHARD_FORMAT.md §3).
KEY_PREFIX = {"interhand26m": "ih26m", "stb": "stb", "rhd": "rhd", "coco": "coco"}
IMAGE_MEMBERS = ("jpg", "png")  # PNG sources stay PNG; JPEGs are stored as `interhand shards --jpeg` says
JSON_MEMBER = "json"
ANN_MEMBER = "ann"

KEY_PATTERN = re.compile(r"^[a-z0-9]+-[a-z]+-[0-9]{9,}$")
MAX_ANNOTATION_ID = 10 ** 9 - 1  # the key's 9 digits


def sample_key(dataset: str, split: str, annotation_id: int) -> str:
    """`ih26m-train-000123456`: stable, sortable, and free of dots (webdataset and DALI split at them)."""
    if dataset not in KEY_PREFIX:
        raise ValueError(f"dataset={dataset!r} is not one of {', '.join(KEY_PREFIX)}")
    if not split.isalpha() or not split.islower():
        raise ValueError(f"split={split!r} must be lowercase letters only")
    if int(annotation_id) < 0:
        raise ValueError(f"annotation id {annotation_id} is negative; keys need ids >= 0")
    if int(annotation_id) > MAX_ANNOTATION_ID:
        raise ValueError(f"annotation id {annotation_id} has more digits than the key's 9")
    return f"{KEY_PREFIX[dataset]}-{split}-{int(annotation_id):09d}"


SHARD_SUFFIX, INDEX_SUFFIX = ".tar", ".idx"  # a shard and its DALI index


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}{SHARD_SUFFIX}"


def index_name(shard: str) -> str:
    """The DALI index beside a shard: `val-000000.tar` → `val-000000.idx`."""
    return shard.removesuffix(SHARD_SUFFIX) + INDEX_SUFFIX


def split_dir(shards: str | Path, dataset: str, annot_subset: str, split: str) -> Path:
    """A split's folder, SHARDS/<dataset>/<annotation subset>/<split> (SHARD_FORMAT.md §1)."""
    return Path(shards) / dataset / annot_subset / split


# --- Format version 2: folder integrity (SHARD_FORMAT.md §1.1) ---------------------------------------------------
# dataset.json keys added in version 2: `complete` (false when the run failed --max-errors; readers refuse such a
# folder unless told to accept it), `error_fraction` (errors / input annotations), `max_errors` (the run's limit),
# and `files`: for each of RECORDED_FILES, {"bytes", "sha256"}, so that `interhand verify` catches an edit of them.
DATASET_FILE = "dataset.json"  # the split folder's record (dataset_json.py)
MANIFEST_FILE = "manifest.parquet"
ERRORS_FILE = "errors.parquet"
RECORDED_FILES = (MANIFEST_FILE, ERRORS_FILE)
# Format version 3 (SHARD_FORMAT.md §1.2): after dataset.json, a finished folder gets the files other tools read
# (interhand/preprocess/publish.py), then CHECKSUMS_FILE, last, over every other file: a folder is finished when
# dataset.json and CHECKSUMS_FILE are both there.
CARD_FILE, CROISSANT_FILE, WIDS_INDEX_FILE = "README.md", "croissant.json", "shardindex.json"
PUBLISHED_FILES = (CARD_FILE, CROISSANT_FILE, WIDS_INDEX_FILE)
CHECKSUMS_FILE = "SHA256SUMS"


def check_plain_file_name(name: object, where: str) -> str:
    """`name` if it is a plain file name inside its folder: a non-empty string without a path separator or NUL,
    not `.` or `..` (so never absolute). dataset.json's shard and index names and the manifest's `shard` column
    must be; else ValueError naming `where`."""
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{where}: {name!r} is not a plain file name inside the shard folder (refused)")
    return name
