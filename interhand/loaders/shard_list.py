"""A split's shards as both loaders serve them: `shard_list` lists an opened split folder
(`interhand.manifests.split_folder`), and each tar's DALI index is checked before it is read (`read_checked_index`
for the reference loader, tar by tar; `check_indexes`, all at once, for DALI, which reads the indexes itself)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from interhand.manifests.split_folder import SplitFolder, open_split_folder
from interhand.shard_format.dali_index import read_dali_index

__all__ = ["ShardList", "shard_list", "read_checked_index", "check_indexes"]


@dataclass(frozen=True)
class ShardList:
    """The tars of one split in order, with their sample counts (from dataset.json)."""

    paths: tuple[str, ...]
    counts: tuple[int, ...]
    index_paths: tuple[str, ...] = ()  # DALI index files (wds2idx format), beside the tars

    @property
    def total(self) -> int:
        return sum(self.counts)


def _check_index_bounds(index_path: str, entries: list, tar_bytes: int) -> None:
    """Every member an index locates lies inside its tar (a damaged or edited `.idx`: one line naming it)."""
    for key, members in entries:
        for name, (offset, size) in members.items():
            if offset < 0 or size < 0 or offset + size > tar_bytes:
                raise ValueError(f"{index_path}: sample {key}.{name} at offset {offset} size {size} lies outside its "
                                 f"{tar_bytes}-byte tar (damaged index; `interhand verify` the folder)")


def read_checked_index(shards: ShardList, tar: int, tar_bytes: int) -> list:
    """The tar's index entries, checked against dataset.json's sample count and the tar's size."""
    entries = read_dali_index(shards.index_paths[tar])
    if len(entries) != shards.counts[tar]:
        raise ValueError(f"{shards.index_paths[tar]}: {len(entries)} samples, "
                         f"but dataset.json says {shards.counts[tar]}")
    _check_index_bounds(shards.index_paths[tar], entries, tar_bytes)
    return entries


def check_indexes(shards: ShardList) -> None:
    """Every index of the split, checked as the reference loader checks each when it first reads its tar: for
    DALI, which reads the indexes itself and would fail on a bad one with its own error. One pass over the
    index files (the reference loader's own parse)."""
    for tar, path in enumerate(shards.paths):
        read_checked_index(shards, tar, os.stat(path).st_size)


def shard_list(split: Path | SplitFolder, accept_incomplete: bool = False) -> ShardList:
    """The split's tars and counts, from its dataset.json: a folder already opened (`open_split_folder`), or a
    path, opened and checked here."""
    folder = open_split_folder(split, accept_incomplete)
    shards = folder.dataset.shards
    return ShardList(tuple(str(folder.path / shard.name) for shard in shards),
                     tuple(shard.samples for shard in shards),
                     tuple(str(folder.path / shard.index) for shard in shards))
