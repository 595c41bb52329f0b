"""Ingest phase: stream a source's records to a spill file, then plan the sample order and shard cuts.

Memory stays bounded: samples go to disk in small batches as they are read, each as its `.ann` record
(packed for the whole batch at once) followed by its pickled SampleInfo; what stays in RAM is a few
numbers per sample (offset, length, image size, group, digest), enough to order and cut the shards.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from interhand.config import PreprocessConfig, parse_size
from interhand.preprocess.sources import Rejection, SourceReading
from interhand.shard_format import ANN_BYTES, ANN_DTYPE, ANN_FLOATS, FORMAT_VERSION, Sample, SampleInfo, \
    encode_ann_records, shard_name

__all__ = ["Ingest", "ingest", "plan_shards", "spill_records", "read_spilled"]

# Bytes a sample adds besides its image: three 512-byte tar headers, the .ann record, ~6 KB of JSON.
_RECORD_OVERHEAD = 3 * 512 + ANN_BYTES + 6000
_DIGEST_BYTES = 20
_SPILL_BATCH = 256  # samples packed into `.ann` records at once


@dataclass
class Ingest:
    """What the ingest pass kept: per-sample numbers (spill offsets, image sizes, ...) and the rejections."""

    spill_path: Path
    offsets: array = field(default_factory=lambda: array("q"))
    lengths: array = field(default_factory=lambda: array("q"))
    image_bytes: array = field(default_factory=lambda: array("q"))
    interacting: array = field(default_factory=lambda: array("b"))
    digests: bytearray = field(default_factory=bytearray)  # _DIGEST_BYTES per sample
    rejections: list = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.offsets)

    @property
    def inputs(self) -> int:
        return self.samples + len(self.rejections)


def _rejection_row(rejection: Rejection, stage: str) -> dict:
    return {"source_file": rejection.source_file, "annotation_id": rejection.annotation_id, "key": rejection.key,
            "stage": stage, "reason": rejection.reason}


def ingest(reading: SourceReading, spill_path: Optional[Path], progress=None,
           keep: Optional[np.ndarray] = None) -> Ingest:
    """Stream every record once; Samples whose image file exists are spilled, the rest become error rows.

    `spill_path` None: numbers only (for planning). `keep`: a bool per sample; only those are spilled
    (the others get offset -1), so that a `--part` job spills only the samples of its own shards.
    """
    result = Ingest(spill_path=spill_path)
    batch: list[tuple[Sample, os.stat_result, bool]] = []
    with open(spill_path or os.devnull, "wb") as spill:
        for record in reading.records():
            if progress is not None:
                progress.update(1)
            if isinstance(record, Rejection):
                result.rejections.append(_rejection_row(record, "annotation"))
                continue
            try:
                status = os.stat(record.image_path)
            except OSError:
                reason = f"image file missing: {record.image_path}"
                result.rejections.append(_rejection_row(
                    Rejection(record.image_path, record.annotation_id, record.key, reason), "image"))
                continue
            wanted = spill_path is not None and (keep is None or bool(keep[result.samples + len(batch)]))
            batch.append((record, status, wanted))
            if len(batch) == _SPILL_BATCH:
                _spill(result, spill, batch)
            if progress is not None and result.rejections:
                progress.set_postfix(rejected=len(result.rejections), refresh=False)
        _spill(result, spill, batch)
    return result


def _spill(result: Ingest, spill, batch: list[tuple[Sample, os.stat_result, bool]]) -> None:
    """Append the batch's records (those wanted) to the spill file and its numbers to `result`; empties it."""
    records = encode_ann_records([sample for sample, _, _ in batch])
    for (sample, status, wanted), ann in zip(batch, records):
        data = ann.tobytes() + pickle.dumps(sample.info(), protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha1(data)
        digest.update(f"{status.st_size} {status.st_mtime_ns}".encode())  # a changed image invalidates its shard
        result.offsets.append(spill.tell() if wanted else -1)
        result.lengths.append(len(data))
        result.image_bytes.append(status.st_size)
        result.interacting.append(sample.hand_type == "interacting")
        result.digests += digest.digest()
        if wanted:
            spill.write(data)
    batch.clear()


def read_spilled(spill, records: tuple) -> tuple[np.ndarray, list[SampleInfo]]:
    """The `.ann` records, (n, ANN_FLOATS) float32, and SampleInfos of spilled samples ((offset, length), ...)."""
    anns, infos = bytearray(), []
    for offset, length in records:
        spill.seek(offset)
        data = spill.read(length)
        anns += data[:ANN_BYTES]
        infos.append(pickle.loads(data[ANN_BYTES:]))
    return np.frombuffer(bytes(anns), ANN_DTYPE).reshape(len(infos), ANN_FLOATS), infos


def _order(ingest_result: Ingest, config: PreprocessConfig) -> np.ndarray:
    if config.split == "train":
        # Shuffle across the whole split so that every shard mixes captures and sequences.
        return np.random.default_rng(config.shuffle_seed).permutation(ingest_result.samples)
    # Eval: the original loader's order, single-hand samples first, then interacting, each in file order.
    return np.argsort(np.frombuffer(ingest_result.interacting, dtype=np.int8), kind="stable")


def _cuts(order: np.ndarray, image_bytes: np.ndarray, config: PreprocessConfig) -> list[np.ndarray]:
    if config.shard_samples:
        return [order[start:start + config.shard_samples] for start in range(0, len(order), config.shard_samples)]
    limit, shards, start, total = parse_size(config.shard_size), [], 0, 0
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
    settings = f"{FORMAT_VERSION} {config.dataset} {config.subset} {config.split} {config.full_decode}".encode()
    plan = []
    for index, members in enumerate(cuts):
        digest = hashlib.sha256(settings)
        for sample in members:
            digest.update(ingest_result.digests[sample * _DIGEST_BYTES:(sample + 1) * _DIGEST_BYTES])
        plan.append((shard_name(config.split, index), members, digest.hexdigest()))
    return plan


def spill_records(ingest_result: Ingest, samples: np.ndarray) -> tuple:
    """((spill offset, length), ...) of the given samples, which must have been spilled."""
    records = tuple((ingest_result.offsets[sample], ingest_result.lengths[sample]) for sample in samples)
    if any(offset < 0 for offset, _ in records):
        raise RuntimeError("a planned sample was not spilled; the source changed between the two passes")
    return records
