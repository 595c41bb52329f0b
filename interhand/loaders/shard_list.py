"""A split's shards as both loaders serve them: `shard_list` lists an opened split folder
(`interhand.manifests.split_folder`), and each tar's DALI index is checked before it is read (`read_checked_index`
for the reference loader, tar by tar; `check_indexes`, all at once, for DALI, which reads the indexes itself)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from interhand.manifests.split_folder import SplitFolder, open_split_folder
from interhand.shard_format.dali_index import read_dali_index

__all__ = ["ShardList", "TarIndex", "shard_list", "read_checked_index", "check_indexes"]


@dataclass(frozen=True)
class ShardList:
    """The tars of one split in order, with their sample counts (from dataset.json)."""

    paths: tuple[str, ...]
    counts: tuple[int, ...]
    index_paths: tuple[str, ...] = ()  # DALI index files (wds2idx format), beside the tars

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class TarIndex:
    """One tar's index as arrays, not a Python tuple per sample (#31: a full split's would be GBs): the keys as one
    Arrow string array, and per sample and member the data's offset and size (size -1: the sample has no such
    member)."""

    keys: pa.StringArray
    members: tuple[str, ...]  # the member names, in the order the index first lists them
    offsets: np.ndarray  # (samples, members) int64
    sizes: np.ndarray  # (samples, members) int32

    def __len__(self) -> int:
        return len(self.keys)

    def sample(self, row: int) -> tuple[str, dict[str, tuple[int, int]]]:
        """(key, {member: (offset, size)}) of the tar's `row`-th sample, as the index file lists it."""
        present = np.flatnonzero(self.sizes[row] >= 0)
        return self.keys[row].as_py(), {self.members[column]: (int(self.offsets[row, column]),
                                                               int(self.sizes[row, column])) for column in present}

    @classmethod
    def from_entries(cls, entries: list) -> TarIndex:
        members = tuple(dict.fromkeys(name for _, located in entries for name in located))
        column = {name: position for position, name in enumerate(members)}
        offsets = np.zeros((len(entries), len(members)), np.int64)
        sizes = np.full((len(entries), len(members)), -1, np.int64)
        for row, (_, located) in enumerate(entries):
            for name, (offset, size) in located.items():
                offsets[row, column[name]], sizes[row, column[name]] = offset, size
        if (sizes >= 2**31).any():
            raise ValueError(f"a member of {int((sizes >= 2**31).sum())} samples is 2 GiB or more")
        return cls(pa.array([key for key, _ in entries], pa.string()), members, offsets, sizes.astype(np.int32))


def _check_index_bounds(index_path: str, entries: list, tar_bytes: int) -> None:
    """Every member an index locates lies inside its tar (a damaged or edited `.idx`: one line naming it)."""
    for key, members in entries:
        for name, (offset, size) in members.items():
            if offset < 0 or size < 0 or offset + size > tar_bytes:
                raise ValueError(f"{index_path}: sample {key}.{name} at offset {offset} size {size} lies outside its "
                                 f"{tar_bytes}-byte tar (damaged index; `interhand verify` the folder)")


def read_checked_index(shards: ShardList, tar: int, tar_bytes: int) -> TarIndex:
    """The tar's index, checked against dataset.json's sample count and the tar's size; as arrays (`TarIndex`):
    the Python objects of the parse live only while one tar's index is read."""
    entries = read_dali_index(shards.index_paths[tar])
    if len(entries) != shards.counts[tar]:
        raise ValueError(f"{shards.index_paths[tar]}: {len(entries)} samples, "
                         f"but dataset.json says {shards.counts[tar]}")
    _check_index_bounds(shards.index_paths[tar], entries, tar_bytes)
    return TarIndex.from_entries(entries)


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
