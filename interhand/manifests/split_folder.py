"""One split folder (SHARDS/<dataset>/<annot-subset>/<split>), opened and checked once and handed down: to the
loaders (which serve its tars) and to eval and score (which score against its manifest).

Opening reads dataset.json (`read_dataset_json`: version, a complete run unless accepted, plain names, no
symlinks, each tar's size, the listed shards adding up to `counts`) and checks what a reader serves
(`check_served_locations`: the manifest's SHA-256, then every DALI index against the manifest, so that no sample is
served under another's key; a reader of the manifest alone, score or the mean-pose baseline, asks for the SHA-256
only: `indexes=False`, and a loader handed that folder checks the indexes then), then that the manifest holds
`counts.samples` rows: a dataset.json whose `shards` and
`counts` were both cut (a shard dropped by hand) would have the loaders serve, and eval or score report, part of the
split as all of it. The row count comes from the Parquet footer, no data is read. Whether every sample has a
RootNet output is scanned at most once, when first asked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from interhand.manifests.index_check import check_indexes_match_manifest, check_manifest_sha256, check_served_locations
from interhand.manifests.query import samples_without_rootnet
from interhand.shard_format.dataset_json import DatasetJson, read_dataset_json
from interhand.shard_format.names import MANIFEST_FILE

__all__ = ["SplitFolder", "open_split_folder"]


@dataclass(frozen=True)
class SplitFolder:
    """A checked split folder and its dataset.json; build it with `open_split_folder`."""

    path: Path
    dataset: DatasetJson
    indexes_checked: bool = True  # every .idx equals the index the manifest implies (what the loaders need)

    @cached_property
    def rootnet_coverage(self) -> tuple[int, int, Optional[str]]:
        """(samples without a RootNet output, all samples, the first such key or None), scanned once."""
        return samples_without_rootnet(self.path)


def open_split_folder(path: Path | SplitFolder, accept_incomplete: bool = False, indexes: bool = True) -> SplitFolder:
    """The folder at `path`, checked (FileNotFoundError or ValueError, one line naming the file and the sample);
    a `SplitFolder` already opened is handed back as it is (its indexes checked first if asked and not yet done).
    `indexes`: check every .idx against the manifest (what serving images by index needs; ~8 µs a sample) or only
    the manifest's SHA-256 (reading the manifest alone: score, the mean-pose baseline)."""
    if isinstance(path, SplitFolder):
        if indexes and not path.indexes_checked:
            check_indexes_match_manifest(path.path, path.dataset)
            return replace(path, indexes_checked=True)
        return path
    dataset = read_dataset_json(Path(path), accept_incomplete)
    if indexes:
        check_served_locations(Path(path), dataset)
    else:
        check_manifest_sha256(Path(path), dataset)
    _check_manifest_rows(Path(path), dataset)
    return SplitFolder(Path(path), dataset, indexes)


def _check_manifest_rows(path: Path, dataset: DatasetJson) -> None:
    """The manifest (already checked against dataset.json's SHA-256) has as many rows as `counts.samples`."""
    manifest = path / MANIFEST_FILE
    try:
        rows = pq.ParquetFile(manifest).metadata.num_rows
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{manifest}: unreadable Parquet ({error}); `interhand verify` the folder") from None
    if rows != dataset.counts.samples:
        raise ValueError(f"{manifest}: {rows} rows, but dataset.json's counts samples = {dataset.counts.samples} "
                         f"in {len(dataset.shards)} shard(s): a shard dropped from dataset.json? (refused, "
                         "`interhand verify` the folder)")
