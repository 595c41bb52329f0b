"""What the loaders serve, cross-checked when they open a folder: every DALI index (`.idx`) is the one its manifest
rows imply, and the manifest is the one dataset.json records.

Both loaders find a sample's members by the `.idx` files alone (offsets and sizes, SHARD_FORMAT.md §1); the
manifest says where they are too (§5), and dataset.json holds the manifest's SHA-256 (§1.1). An index edited or
damaged so that it stays in bounds and keeps its counts (two samples' `.ann` or image entries swapped) would serve
one sample's record or image under the other's key, and only `interhand verify` would see it. So a reader checks,
once per split: the manifest's SHA-256 against dataset.json, then each index, byte for byte, against the index
the manifest's rows imply (what the writer wrote and `verify` compares). A same-size edit of a tar's member
bytes is still `verify`'s to find (CRC-32, SHA-256).

Cost: one SHA-256 of the manifest and one read of its location columns and of every index, per split and process
at open, nothing per sample served (docs/shards.md, Integrity, gives the measured figure).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from interhand.manifests.read import manifest_by_shard
from interhand.manifests.schema import MEMBER_COLUMNS
from interhand.shard_format.dataset_json import DatasetJson, ShardRecord, file_sha256
from interhand.shard_format.names import JSON_MEMBER, MANIFEST_FILE

__all__ = ["recorded_file_problems", "check_manifest_sha256", "check_indexes_match_manifest", "check_served_locations",
           "index_text"]

# The manifest columns an index line is made of (one line per sample: `ext offset size key.ext` per member).
_LOCATION_COLUMNS = ["key", "shard", "image_member",
                     *[f"{member}_{what}" for member in MEMBER_COLUMNS for what in ("offset", "size")]]
_REFUSED = "edited or damaged index: it would serve another sample's data under this key; `interhand verify` the folder"


def recorded_file_problems(shard_dir: Path, dataset: DatasetJson, names: tuple[str, ...]) -> list[str]:
    """Problems with the SHA-256 of the files dataset.json's `files` records (manifest.parquet, errors.parquet): the
    one comparison `verify`, eval and the loaders make."""
    problems = []
    for name in names:
        if file_sha256(Path(shard_dir) / name) != dataset.files[name].sha256:
            problems.append(f"{name}: SHA-256 differs from dataset.json (edited, replaced or corrupt)")
    return problems


def check_manifest_sha256(shard_dir: Path, dataset: DatasetJson) -> None:
    """manifest.parquet is the file dataset.json records (its SHA-256), so that what is checked against it can be
    trusted as far as dataset.json can; else one ValueError line naming the file."""
    if recorded_file_problems(shard_dir, dataset, (MANIFEST_FILE,)):
        raise ValueError(f"{Path(shard_dir) / MANIFEST_FILE}: SHA-256 differs from dataset.json (edited, replaced or "
                         "corrupt; refused, `interhand verify` the folder)")


def _member_field(rows: pa.Table, column: str) -> pa.ChunkedArray:
    """Each row's `ext offset size key.ext` for one of MEMBER_COLUMNS (image: its `image_member` extension)."""
    ext = rows["image_member"] if column == "image" else pa.scalar(column)
    name = pc.binary_join_element_wise(rows["key"], ext, ".")
    return pc.binary_join_element_wise(ext, pc.cast(rows[f"{column}_offset"], pa.string()),
                                       pc.cast(rows[f"{column}_size"], pa.string()), name, " ")


def index_text(rows: pa.Table) -> str:
    """The `wds2idx` v1.2 index one shard's manifest rows (in position order) imply: what `dali_index_text` wrote,
    each sample's members sorted by extension (`ann` first, the image before or after `json`), built column-wise."""
    if not rows.num_rows:
        return "v1.2 0\n"
    ann, image, json = (_member_field(rows, column) for column in ("ann", "image", "json"))
    lines = pc.if_else(pc.less(rows["image_member"], JSON_MEMBER),  # jpg sorts before json, png after
                       pc.binary_join_element_wise(ann, image, json, " "),
                       pc.binary_join_element_wise(ann, json, image, " "))
    body = pc.binary_join(pa.ListArray.from_arrays([0, rows.num_rows], lines.combine_chunks()), "\n")[0].as_py()
    return f"v1.2 {rows.num_rows}\n{body}\n"


def _first_difference(found: str, expected: str, rows: pa.Table) -> str:
    """Where an index differs from the one the manifest implies, naming the sample: its first differing line and
    member entry."""
    found_lines, expected_lines = found.splitlines(), expected.splitlines()
    if not found_lines or found_lines[0] != expected_lines[0]:
        return f"header {found_lines[0] if found_lines else ''!r}, the manifest lists {rows.num_rows} samples"
    for number, (line, wanted) in enumerate(zip(found_lines[1:], expected_lines[1:])):
        if line != wanted:
            fields, wanted_fields = line.split(), wanted.split()
            groups = [" ".join(fields[i:i + 4]) for i in range(0, max(len(fields), len(wanted_fields)), 4)]
            wanted_groups = [" ".join(wanted_fields[i:i + 4]) for i in range(0, len(wanted_fields), 4)]
            got, want = next(((a, b) for a, b in zip(groups, wanted_groups) if a != b), (line, wanted))
            return (f"sample {rows['key'][number].as_py()} (line {number + 2}) has `{got}` "
                    f"where the manifest has `{want}`")
    if len(found_lines) != len(expected_lines):
        return f"{len(found_lines) - 1} sample lines, the manifest lists {rows.num_rows}"
    return "its text differs from the index the manifest implies (spaces or line ends)"


def _check_index(shard_dir: Path, shard: ShardRecord, rows: pa.Table) -> None:
    """One shard's index against its manifest rows; one ValueError line naming the index and the sample."""
    manifest, index_path = Path(shard_dir) / MANIFEST_FILE, Path(shard_dir) / shard.index
    names = pc.unique(rows["shard"]).to_pylist() if rows.num_rows else []
    if rows.num_rows != shard.samples or names not in ([], [shard.name]):
        raise ValueError(f"{manifest}: its rows for {shard.name} are not the {shard.samples} dataset.json lists "
                         f"(found {rows.num_rows} rows of {', '.join(map(str, names)) or 'no shard'}; refused, "
                         "`interhand verify` the folder)")
    expected = index_text(rows)
    found = index_path.read_bytes().decode("utf-8", errors="replace")
    if found != expected:
        raise ValueError(f"{index_path}: {_first_difference(found, expected, rows)} ({_REFUSED})")


def check_indexes_match_manifest(shard_dir: Path, dataset: DatasetJson) -> None:
    """Every shard's index is, byte for byte, the index its manifest rows imply (read shard by shard, so memory stays
    bounded by a shard's rows)."""
    counts = [shard.samples for shard in dataset.shards]
    for shard, rows in zip(dataset.shards, manifest_by_shard(shard_dir, counts, _LOCATION_COLUMNS)):
        _check_index(shard_dir, shard, rows)


def check_served_locations(shard_dir: Path, dataset: DatasetJson) -> None:
    """What a loader checks when it opens a folder (after `read_dataset_json`): the manifest's SHA-256, then every
    index against the manifest. FileNotFoundError or ValueError, one line naming the file (and the sample)."""
    check_manifest_sha256(shard_dir, dataset)
    check_indexes_match_manifest(shard_dir, dataset)
