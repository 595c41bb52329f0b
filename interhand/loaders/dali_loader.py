"""DALI batches as `Batch`es: the iterator over `dali_pipeline`, with the targets computed per batch.

On a GPU the patches stay on the device (DALI hands PyTorch its own buffer: no host copy); the small
`.ann` records come to the host, where `targets_from_records` computes a whole batch's targets at once
with the same vectorised geometry as the reference loader.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Optional

import numpy as np

from interhand.loaders.augment import draw_augment_params_array
from interhand.loaders.batch import Batch, make_batch, targets_from_records
from interhand.loaders.dali_pipeline import READER_NAME, DaliPipelineSpec, build_pipeline
from interhand.shard_format import decode_ann_records

__all__ = ["DaliLoader", "TrainParamsSource"]


class TrainParamsSource:
    """DALI external source of augmentation parameters: one (8,) array per sample, a fresh batch per call.

    Seeded by (seed, rank) and the call count, so a run is reproducible (the epoch is not part of the seed).
    """

    def __init__(self, batch_size: int, seed: int, rank: int):
        self.batch_size, self.seed, self.rank, self.calls = batch_size, seed, rank, 0

    def __call__(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.rank, self.calls])
        self.calls += 1
        return list(draw_augment_params_array(rng, self.batch_size))


def _keys(info: np.ndarray) -> list[str]:
    """source_info rows ('…/train-000000.tar:3584:ih26m-train-000000001.jpg', zero-padded) → sample keys."""
    keys = []
    for row in info:
        text = bytes(row[row > 0].astype(np.uint8)).decode()
        member = text.rsplit(":", 1)[-1]
        keys.append(member.split(".", 1)[0])
    return keys


class DaliLoader:
    """Iterates one epoch of Batches per `iter()`; partial last batch, padding dropped (PARTIAL policy)."""

    def __init__(self, spec: DaliPipelineSpec, params_source: Optional[Callable[[], list]] = None):
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        self.spec = spec
        self.pipeline = build_pipeline(spec, params_source)
        self.pipeline.build()
        names = ["image", "ann", "params"] + (["info"] if spec.with_keys else [])
        # reader_name makes the iterator follow the reader's epoch and drop the padding of the last batch.
        self.iterator = DALIGenericIterator([self.pipeline], names, reader_name=READER_NAME,
                                            last_batch_policy=LastBatchPolicy.PARTIAL, auto_reset=True)
        self.size = self.pipeline.epoch_size(READER_NAME)

    def __len__(self) -> int:
        share = self.size * (self.spec.shard_id + 1) // self.spec.num_shards - self.size * self.spec.shard_id // self.spec.num_shards
        return math.ceil(share / self.spec.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for outputs in self.iterator:
            data = outputs[0]
            fields = decode_ann_records(data["ann"].cpu().numpy(), "DALI batch")
            params = data["params"].cpu().numpy()
            targets, inv_trans = targets_from_records(fields, params, self.spec.box, self.spec.geometry)
            keys = _keys(data["info"].cpu().numpy()) if self.spec.with_keys else [""] * len(params)
            yield make_batch(data["image"], targets, fields["hand_type_valid"], inv_trans, params[:, 5:8], keys, params)
