"""DALI batches as `Batch`es: the iterator over `dali_pipeline`, with the targets computed per batch.

On a GPU the patches stay on the device (DALI hands PyTorch its own buffer: no host copy); the small
`.ann` records come to the host, where `targets_from_records` computes a whole batch's targets at once
with the same vectorised geometry as the reference loader.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterator, Optional

import numpy as np

from interhand.loaders.augment import PARAM_COLOUR, counter_params
from interhand.loaders.batch import Batch, make_batch, targets_from_records
from interhand.loaders.dali_pipeline import READER_NAME, DaliPipelineSpec, build_pipeline
from interhand.loaders.reference import rank_range
from interhand.shard_format import decode_ann_records

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
    """DALI's `ShardLoader`: one epoch of Batches per `iter()`; partial last batch, padding dropped (PARTIAL).

    `augment_seed` draws the augmentation with `CounterParamsSource`; `params_source` (tests) is any batch
    callable instead; neither: no augmentation.
    """

    backend = "dali"

    def __init__(self, spec: DaliPipelineSpec, params_source: Optional[Callable[[], list]] = None,
                 augment_seed: Optional[int] = None):
        self.spec, self.device = spec, spec.device
        self.counter = None if augment_seed is None else CounterParamsSource(augment_seed, spec.batch_size,
                                                                             spec.shard_id, spec.num_shards)
        self.pipeline = build_pipeline(spec, self.counter or params_source)
        self.pipeline.build()
        self.size = self.pipeline.reader_meta(READER_NAME)["epoch_size"]  # unpadded: epoch_size() pads the shards
        if self.counter is not None:
            self.counter.total = self.size
        self.iterator = None  # made at the first batch: it runs the pipeline (prefetch) at once

    def __len__(self) -> int:
        start, end = rank_range(self.size, self.spec.shard_id, self.spec.num_shards)
        return math.ceil((end - start) / self.spec.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Before the first batch: the epoch of the augmentation's counter. DALI's reader then streams on,
        its next epoch the next one (the pipeline draws the first batches of an epoch before the trainer
        reaches it), so a later call changes nothing; the reader's shuffle is its own, seeded by the spec."""
        if self.counter is not None and self.iterator is None:
            self.counter.first_epoch = epoch

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, batch: int) -> Iterator[Batch]:
        """The epoch's batches from batch `batch` on: the earlier ones are read and dropped (DALI's reader has
        no random access)."""
        return itertools.islice(self._batches(), batch, None)

    def _batches(self) -> Iterator[Batch]:
        if self.iterator is None:
            from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

            names = ["image", "ann", "params"] + (["info"] if self.spec.with_keys else [])
            # reader_name makes the iterator follow the reader's epoch and drop the padding of the last batch.
            self.iterator = DALIGenericIterator([self.pipeline], names, reader_name=READER_NAME,
                                                last_batch_policy=LastBatchPolicy.PARTIAL, auto_reset=True)
        for outputs in self.iterator:
            data = outputs[0]
            fields = decode_ann_records(data["ann"].cpu().numpy(), "DALI batch")
            params = data["params"].cpu().numpy()
            targets, patch_to_flipped_img = targets_from_records(fields, params, self.spec.box, self.spec.geometry)
            keys = _keys(data["info"].cpu().numpy()) if self.spec.with_keys else [""] * len(params)
            yield make_batch(data["image"], targets, fields["hand_type_valid"], patch_to_flipped_img,
                             params[:, PARAM_COLOUR], keys, params)
