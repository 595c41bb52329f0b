"""The reference loader: shards + libjpeg-turbo/OpenCV + NumPy, a thread pool; the CPU path and DALI's twin.

It reads the same shards, gives each rank the same contiguous share of the split as DALI's
`fn.readers.webdataset(shard_id, num_shards)` does, and computes the patches and targets with the one
geometry (`interhand.loaders.augment`). A batch is made whole by one thread:
- its samples are read by the byte offsets of the shards' DALI index files (`.idx`, wds2idx format,
  SHARD_FORMAT.md): no tar parsing, random access, so shuffling is a permutation of indices;
- its augmentation parameters (`counter_params`: a pure function of seed, epoch and sample index, so a
  sample is augmented alike whatever the number of threads or ranks), affines and targets are computed at
  once, vectorised; each JPEG is decoded only under its patch's source window (`interhand.loaders.decode`)
  and warped straight into the batch array.
Without augmentation batches come out in shard order. Images stay uint8; the trainer normalises and
applies the colour factors on the whole batch.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Optional, Sequence

import cv2
import numpy as np
import torch

from interhand.config import LoaderConfig
from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.loaders.augment import (
    IDENTITY,
    PARAM_COLOUR,
    PARAMS_LENGTH,
    augmented_patch_affines,
    counter_params,
    params_to_array,
)
from interhand.loaders.batch import Batch, make_batch, targets_from_records
from interhand.loaders.decode import decode_and_warp
from interhand.loaders.shard_list import ShardList, TarIndex, read_checked_index
from interhand.loaders.shares import equal_share, left_out_row, rank_range
from interhand.shard_format.ann_codec import ANN_DTYPE, ANN_FLOATS, decode_ann_records
from interhand.shard_format.names import ANN_MEMBER, IMAGE_MEMBERS

__all__ = ["ShardReader", "ReferenceDataset", "ReferenceLoader"]


class ShardReader:
    """Random access to the samples of a split by global index: (key, {member: bytes}), via the `.idx` files.

    Index files are parsed when a tar is first touched; tars stay open until `close`. Safe to share between
    threads (`os.pread` has no file position).
    """

    def __init__(self, shards: ShardList):
        if len(shards.index_paths) != len(shards.paths):
            raise ValueError("the shard list has no DALI index files; re-run `interhand shards` to write them")
        self.shards = shards
        self.starts = np.concatenate([[0], np.cumsum(shards.counts)]).astype(np.int64)
        self._entries: dict[int, TarIndex] = {}
        self._files: dict[int, int] = {}
        self._lock = threading.Lock()

    def _tar(self, tar: int) -> tuple[TarIndex, int]:
        with self._lock:
            if tar not in self._entries:
                handle = os.open(self.shards.paths[tar], os.O_RDONLY)
                try:
                    entries = read_checked_index(self.shards, tar, os.fstat(handle).st_size)
                except ValueError:
                    os.close(handle)
                    raise
                self._files[tar], self._entries[tar] = handle, entries
            return self._entries[tar], self._files[tar]

    def path_of(self, index: int) -> str:
        return self.shards.paths[int(np.searchsorted(self.starts, index, side="right")) - 1]

    def read(self, index: int, members: Sequence[str]) -> tuple[str, dict[str, bytes]]:
        """The sample's key and those of the wanted members that it has."""
        tar = int(np.searchsorted(self.starts, index, side="right")) - 1
        entries, handle = self._tar(tar)
        key, located = entries.sample(index - int(self.starts[tar]))
        found = {}
        for name, (offset, size) in located.items():
            if name in members:
                data = os.pread(handle, size, offset)
                if len(data) != size:
                    raise ValueError(f"{self.shards.paths[tar]}: sample {key}.{name} is cut short "
                                     f"({len(data)} of {size} bytes)")
                found[name] = data
        return key, found

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                os.close(handle)
            self._files.clear()
            self._entries.clear()


class ReferenceDataset:
    """One rank's share of a split, and how a batch of it is made (read, decode, warp, targets).

    `config` gives the augmentation, seed, box, shuffle buffer and region decoding; `params_for` (tests) fixes
    each sample's parameter array instead of drawing it. `equal_shares` (training) takes the equal share of
    `interhand.loaders.shares` every epoch; without it (evaluation) the rank's whole share, every sample once.
    `pin_memory` (a job on a GPU): the patches are decoded straight into page-locked memory, whose copy to the
    GPU runs asynchronously (`non_blocking=True`) instead of through a staging copy.
    """

    def __init__(self, shards: ShardList, config: LoaderConfig, rank: int = 0, world_size: int = 1,
                 geometry: HeatmapGeometry = ORIGINAL_GEOMETRY,
                 params_for: Optional[Callable[[int], np.ndarray]] = None, equal_shares: bool = False,
                 pin_memory: bool = False):
        self.shards, self.config, self.rank, self.world_size = shards, config, rank, world_size
        self.geometry, self.params_for, self.equal_shares = geometry, params_for, equal_shares
        self.pin_memory = pin_memory
        self.epoch = 0
        if equal_shares:
            equal_share(shards.total, world_size)  # one line now when a rank would get no sample

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Samples of an epoch: the equal share (training) or the rank's whole share."""
        if self.equal_shares:
            return equal_share(self.shards.total, self.world_size)
        start, end = rank_range(self.shards.total, self.rank, self.world_size)
        return end - start

    def index_batches(self, batch_size: int) -> list[np.ndarray]:
        """This epoch's batches of global sample indices: in shard order, or shuffled through the buffer; with
        equal shares, one row of a larger share's stream left out (`interhand.loaders.shares`)."""
        start, end = rank_range(self.shards.total, self.rank, self.world_size)
        order = np.arange(start, end, dtype=np.int64)
        if self.config.augment and self.config.shuffle_buffer > 1:
            order = _buffer_shuffle(order, self.config.shuffle_buffer,
                                    np.random.default_rng([self.config.seed, self.epoch, self.rank]))
        if len(order) > len(self):
            order = np.delete(order, left_out_row(self.config.seed, self.epoch, self.rank, len(order)))
        return [order[first:first + batch_size] for first in range(0, len(order), batch_size)]

    def _params(self, indices: np.ndarray) -> np.ndarray:
        if self.params_for is not None:
            return np.stack([np.asarray(self.params_for(int(i)), np.float32).reshape(PARAMS_LENGTH) for i in indices])
        if self.config.augment:
            return counter_params(self.config.seed, self.epoch, indices)
        return np.repeat(params_to_array(IDENTITY)[None], len(indices), axis=0)

    def batch(self, reader: ShardReader, indices: np.ndarray) -> Batch:
        """The Batch of samples `indices`: targets vectorised, each image decoded and warped into place."""
        wanted = (*IMAGE_MEMBERS, ANN_MEMBER)
        samples = [reader.read(int(index), wanted) for index in indices]
        records = np.empty((len(samples), ANN_FLOATS), dtype=ANN_DTYPE)
        for row, (key, members) in enumerate(samples):
            if ANN_MEMBER not in members or not any(name in members for name in IMAGE_MEMBERS):
                raise ValueError(f"{reader.path_of(int(indices[row]))}: sample {key} lacks an image or its "
                                 f".{ANN_MEMBER} record")
            ann = np.frombuffer(members[ANN_MEMBER], dtype=ANN_DTYPE)
            if ann.size != ANN_FLOATS:
                raise ValueError(f"{key}.{ANN_MEMBER}: {ann.size * 4} bytes, expected {ANN_FLOATS * 4}")
            records[row] = ann
        fields = decode_ann_records(records, "reference batch")
        params = self._params(indices)
        box = fields["bbox"] if self.config.box == "gt" else fields["rootnet_bbox"]
        size = self.geometry.input_size
        img_to_patch, _, _ = augmented_patch_affines(box, fields["image_size_px"][:, 0], params, size)
        images_tensor = torch.empty((len(samples), size, size, 3), dtype=torch.uint8, pin_memory=self.pin_memory)
        images = images_tensor.numpy()
        for row, (key, members) in enumerate(samples):
            name = next(name for name in IMAGE_MEMBERS if name in members)
            decode_and_warp(members[name], f"{key}.{name}", img_to_patch[row], size,
                            tuple(fields["image_size_px"][row]), self.config.roi_decode, out=images[row])
        targets, patch_to_flipped_img = targets_from_records(fields, params, self.config.box, self.geometry)
        return make_batch(images_tensor, targets, fields["hand_type_valid"], patch_to_flipped_img,
                          params[:, PARAM_COLOUR],
                          [key for key, _ in samples], params)


def _buffer_shuffle(order: np.ndarray, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """A shuffle buffer over the index stream, as DALI's reader shuffles with `initial_fill`: reads stay
    near each other in the shards, and the shards were shuffled across the split when written."""
    out, buffer = [], []
    for index in order.tolist():
        buffer.append(index)
        if len(buffer) >= buffer_size:
            out.append(buffer.pop(int(rng.integers(len(buffer)))))
    while buffer:
        out.append(buffer.pop(int(rng.integers(len(buffer)))))
    return np.asarray(out, dtype=np.int64)


class ReferenceLoader:
    """Batches of a ReferenceDataset (a `ShardLoader`), made by a pool of `config.threads` threads (0: in the
    caller's thread); the last batch may be smaller, never empty (eval: every sample exactly once, in shard order;
    training: the equal share, the same batches on every rank).

    Threads, not processes: libjpeg-turbo and OpenCV release the GIL while they work, and batches need no
    pickling or shared-memory copy to reach the trainer (measured 1.3× the throughput of DataLoader worker
    processes on 2 cores). Batches come out in order; at most `workers × prefetch` are in flight.
    """

    backend, device = "reference", "cpu"

    def __init__(self, dataset: ReferenceDataset, prefetch: int = 2):
        self.dataset, self.prefetch = dataset, prefetch
        self.batch_size, self.workers = dataset.config.batch_size, dataset.config.threads

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """This epoch's batches from batch `start` on; the ones before are skipped unread (mid-epoch resume)."""
        cv2.setNumThreads(1)  # the pool is the parallelism; OpenCV's own threads would oversubscribe the cores
        batches = self.dataset.index_batches(self.batch_size)[start:]
        reader = ShardReader(self.dataset.shards)
        try:
            if self.workers == 0:
                for indices in batches:
                    yield self.dataset.batch(reader, indices)
                return
            with ThreadPoolExecutor(self.workers, thread_name_prefix="interhand-loader") as pool:
                pending: deque = deque()
                try:
                    for indices in batches:
                        pending.append(pool.submit(self.dataset.batch, reader, indices))
                        if len(pending) >= self.workers * self.prefetch:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
                finally:  # the consumer stopped early (steps_per_epoch) or a batch failed
                    for future in pending:
                        future.cancel()
        finally:
            reader.close()
