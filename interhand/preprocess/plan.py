"""Plan phase of `interhand shards`: from what ingest kept (image sizes, hand types, digests), the sample order,
the shard cuts and each shard's plan hash (what resume compares: a changed sample or setting rewrites its shard).
"""

from __future__ import annotations

import hashlib

import numpy as np

from interhand.config import PreprocessConfig
from interhand.preprocess.ingest import DIGEST_BYTES, Ingest
from interhand.shard_format.ann_codec import ANN_BYTES
from interhand.shard_format.names import shard_name
from interhand.shard_format.version import FORMAT_VERSION

__all__ = ["plan_shards"]

# Bytes a sample adds besides its image: three 512-byte tar headers, the .ann record, ~6 KB of JSON.
_RECORD_OVERHEAD = 3 * 512 + ANN_BYTES + 6000


def _order(ingest_result: Ingest, config: PreprocessConfig) -> np.ndarray:
    if config.split == "train":
        # Shuffle across the whole split so that every shard mixes captures and sequences.
        return np.random.default_rng(config.shuffle_seed).permutation(ingest_result.samples)
    # Eval: the original loader's order, single-hand samples first, then interacting, each in file order.
    return np.argsort(np.frombuffer(ingest_result.interacting, dtype=np.int8), kind="stable")


def _cuts(order: np.ndarray, image_bytes: np.ndarray, config: PreprocessConfig) -> list[np.ndarray]:
    if config.shard_samples:
        return [order[start:start + config.shard_samples] for start in range(0, len(order), config.shard_samples)]
    limit, shards, start, total = config.shard_size_bytes, [], 0, 0
    for position, sample in enumerate(order):
        total += int(image_bytes[sample]) + _RECORD_OVERHEAD
        if total >= limit:
            shards.append(order[start:position + 1])
            start, total = position + 1, 0
    if start < len(order):
        shards.append(order[start:])
    return shards


def plan_shards(ingest_result: Ingest, config: PreprocessConfig) -> list[tuple[str, np.ndarray, str]]:
    """[(shard name, sample indices in shard order, plan hash)] in shard order, for the whole split."""
    order = _order(ingest_result, config)
    cuts = _cuts(order, np.frombuffer(ingest_result.image_bytes, dtype=np.int64), config)
    settings = (f"{FORMAT_VERSION} {config.dataset} {config.annot_subset} {config.split} {config.full_decode} "
                f"{config.jpeg}").encode()
    plan = []
    for index, members in enumerate(cuts):
        digest = hashlib.sha256(settings)
        for sample in members:
            digest.update(ingest_result.digests[sample * DIGEST_BYTES:(sample + 1) * DIGEST_BYTES])
        plan.append((shard_name(config.split, index), members, digest.hexdigest()))
    return plan
