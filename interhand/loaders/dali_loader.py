"""DALI batches as `Batch`es: the iterator over `dali_pipeline`, with the targets computed per batch.

On a GPU the patches stay on the device (DALI hands PyTorch its own buffer: no host copy); the small
`.ann` records come to the host, where `targets_from_records` computes a whole batch's targets at once
with the same vectorised geometry as the reference loader.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch

from interhand.loaders.augment import PARAM_COLOUR, counter_params
from interhand.loaders.batch import Batch, make_batch, targets_from_records
from interhand.loaders.dali_pipeline import READER_NAME, DaliPipelineSpec, build_pipeline
from interhand.loaders.shares import equal_share, left_out_row, rank_range
from interhand.shard_format.ann_codec import decode_ann_records

__all__ = ["DaliLoader", "CounterParamsSource"]


class CounterParamsSource:
    """DALI external source of augmentation parameters: `counter_params(seed, epoch, sample position)`, the
    reference loader's draw.

    DALI calls it once per batch, ahead of the consumer (it prefetches), and its reader streams on from one
    epoch into the next, moving each rank to the next shard of the split (`stick_to_shard` off) and padding
    every shard to the batches of the largest (`pad_last_batch`). So the source counts its own calls: call k
    is batch b of the reader's epoch j, which reads shard (shard_id + j) mod num_shards, whose samples start
    at global position `start`; row i of the batch is sample position start + b·batch_size + i (rows past the
    shard's end are padding, dropped by the iterator), of epoch first_epoch + j. Without shuffling a position
    is the sample's index, the reference loader's key.
    """

    def __init__(self, seed: int, batch_size: int, shard_id: int, num_shards: int):
        self.seed, self.batch_size, self.shard_id, self.num_shards = seed, batch_size, shard_id, num_shards
        self.total = 0  # samples in the split (unpadded), set once the pipeline is built
        self.first_epoch, self.reader_epoch, self.batch = 0, 0, 0

    def __call__(self) -> list[np.ndarray]:
        start, _ = rank_range(self.total, (self.shard_id + self.reader_epoch) % self.num_shards, self.num_shards)
        first = start + self.batch * self.batch_size
        params = counter_params(self.seed, self.first_epoch + self.reader_epoch,
                                np.arange(first, first + self.batch_size))
        self.batch += 1
        largest_share = -(-self.total // self.num_shards)
        if self.batch * self.batch_size >= largest_share:
            self.reader_epoch, self.batch = self.reader_epoch + 1, 0
        return list(params)


def _keys(info: np.ndarray) -> list[str]:
    """source_info rows ('…/train-000000.tar:3584:ih26m-train-000000001.jpg', zero-padded) → sample keys."""
    keys = []
    for row in info:
        text = bytes(row[row > 0].astype(np.uint8)).decode()
        member = text.rsplit(":", 1)[-1]
        keys.append(member.split(".", 1)[0])
    return keys


class DaliLoader:
    """DALI's `ShardLoader`: `len(self)` batches per `iter()`, never an empty one (the reader's padding is dropped).

    DALI's reader streams from one epoch into the next and moves the rank to the next share every epoch
    (`stick_to_shard` off), padding every share to the batches of the largest (`pad_last_batch`): so the loader
    is one endless stream of the reader's epochs, regrouped into batches of `batch_size`. With `equal_shares`
    (training) every reader epoch gives the equal share of `interhand.loaders.shares` (a larger share leaves
    row `left_out_row(share_seed, epoch, share, rows)` of its stream out), in the same batches on every rank;
    without (evaluation), each share whole, and `len(self)` counts the first epoch's share.

    `augment_seed` draws the augmentation with `CounterParamsSource`; `params_source` (tests) is any batch
    callable instead; neither: no augmentation.
    """

    backend = "dali"

    def __init__(self, spec: DaliPipelineSpec, params_source: Optional[Callable[[], list]] = None,
                 augment_seed: Optional[int] = None, equal_shares: bool = False, share_seed: int = 0):
        self.spec, self.device = spec, spec.device
        self.equal_shares, self.share_seed = equal_shares, share_seed
        self.counter = None if augment_seed is None else CounterParamsSource(augment_seed, spec.batch_size,
                                                                             spec.shard_id, spec.num_shards)
        self.pipeline = build_pipeline(spec, self.counter or params_source)
        self.pipeline.build()
        self.size = self.pipeline.reader_meta(READER_NAME)["epoch_size"]  # unpadded: epoch_size() pads the shards
        if equal_shares:
            equal_share(self.size, spec.num_shards)  # one line now when a rank would get no sample
        if self.counter is not None:
            self.counter.total = self.size
        self.first_epoch = 0
        self.stream = None  # made at the first batch: the iterator runs the pipeline (prefetch) at once
        self.reader_epoch, self.left_in_reader_epoch = -1, 0  # where the stream is (-1: not started)

    def __len__(self) -> int:
        """Batches of an epoch: the equal share's (training), or the rank's share in the reader's next epoch."""
        if self.equal_shares:
            return math.ceil(equal_share(self.size, self.spec.num_shards) / self.spec.batch_size)
        if self.left_in_reader_epoch:
            return self.left_in_reader_epoch
        return self._share_batches(self.reader_epoch + 1)

    def _share(self, reader_epoch: int) -> tuple[int, int, int]:
        """(share, start, end) the reader reads in its epoch `reader_epoch` (0: the first)."""
        share = (self.spec.shard_id + reader_epoch) % self.spec.num_shards
        return (share, *rank_range(self.size, share, self.spec.num_shards))

    def _share_batches(self, reader_epoch: int) -> int:
        _, start, end = self._share(reader_epoch)
        return math.ceil((end - start) / self.spec.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Before the first batch: the epoch of the augmentation's counter and of the left-out row. DALI's reader
        then streams on, its next epoch the next one (the pipeline draws the first batches of an epoch before
        the trainer reaches it), so a later call changes nothing; the reader's shuffle is its own, seeded by
        the spec."""
        if self.stream is None:
            self.first_epoch = epoch
            if self.counter is not None:
                self.counter.first_epoch = epoch

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, batch: int) -> Iterator[Batch]:
        """The epoch's batches from batch `batch` on: the earlier ones are read and dropped (DALI's reader has
        no random access). With equal shares an epoch is the stream's next `len(self)` batches (a consumer that
        stops early leaves the rest to the next epoch, the same on every rank); without, the rest of the
        reader's epoch."""
        if self.stream is None:
            self.stream = self._stream()
        return itertools.islice(self.stream, batch, len(self))

    def _stream(self) -> Iterator[Batch]:
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        names = ["image", "ann", "params"] + (["info"] if self.spec.with_keys else [])
        # reader_name makes the iterator follow the reader's epoch and drop the padding of the last batch.
        iterator = DALIGenericIterator([self.pipeline], names, reader_name=READER_NAME,
                                       last_batch_policy=LastBatchPolicy.PARTIAL, auto_reset=True)
        equal = equal_share(self.size, self.spec.num_shards) if self.equal_shares else None
        for reader_epoch in itertools.count():
            share, start, end = self._share(reader_epoch)
            self.reader_epoch = reader_epoch
            self.left_in_reader_epoch = len(self) if equal is not None else self._share_batches(reader_epoch)
            chunks = (outputs[0] for outputs in iterator)  # one reader epoch: this share's rows in order
            if equal is not None and end - start > equal:
                row = left_out_row(self.share_seed, self.first_epoch + reader_epoch, share, end - start)
                chunks = _without_row(chunks, row)
            for data in _regrouped(chunks, self.spec.batch_size):
                self.left_in_reader_epoch -= 1
                yield self._batch(data)

    def _batch(self, data: dict) -> Batch:
        fields = decode_ann_records(data["ann"].cpu().numpy(), "DALI batch")
        params = data["params"].cpu().numpy()
        targets, patch_to_flipped_img = targets_from_records(fields, params, self.spec.box, self.spec.geometry)
        keys = _keys(data["info"].cpu().numpy()) if self.spec.with_keys else [""] * len(params)
        return make_batch(data["image"], targets, fields["hand_type_valid"], patch_to_flipped_img,
                          params[:, PARAM_COLOUR], keys, params)


def _rows(data: dict) -> int:
    return len(next(iter(data.values())))


def _concat(chunks: list[dict]) -> dict:
    """One chunk of the rows of `chunks`, in order; the source-info strings are zero-padded to the widest."""
    if len(chunks) == 1:
        return chunks[0]
    merged = {}
    for name in chunks[0]:
        parts = [chunk[name] for chunk in chunks]
        width = max(part.shape[-1] for part in parts) if parts[0].dim() == 2 else None
        if width is not None:
            parts = [torch.nn.functional.pad(part, (0, width - part.shape[-1])) for part in parts]
        merged[name] = torch.cat(parts)
    return merged


def _without_row(chunks: Iterable[dict], row: int) -> Iterator[dict]:
    """The chunks of a stream of rows with row `row` (counted over the whole stream) left out."""
    seen = 0
    for chunk in chunks:
        count = _rows(chunk)
        if seen <= row < seen + count:
            index = row - seen
            chunk = {name: torch.cat([value[:index], value[index + 1:]]) for name, value in chunk.items()}
        seen += count
        yield chunk


def _regrouped(chunks: Iterable[dict], batch_size: int) -> Iterator[dict]:
    """The rows of `chunks` in batches of `batch_size`, the last one partial, none empty; a chunk that already is
    a whole batch passes through uncopied."""
    pending: list[dict] = []
    rows = 0
    for chunk in chunks:
        count = _rows(chunk)
        if not count:
            continue
        if not pending and count == batch_size:
            yield chunk
            continue
        pending.append(chunk)
        rows += count
        while rows >= batch_size:
            merged = _concat(pending)
            yield {name: value[:batch_size] for name, value in merged.items()}
            rows -= batch_size
            pending = [{name: value[batch_size:] for name, value in merged.items()}] if rows else []
    if rows:
        yield _concat(pending)
