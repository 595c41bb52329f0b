"""Ingest phase of `interhand shards`: stream a source's records to spill files (`spill.py`), keeping per sample
only what planning needs.

Memory stays bounded: samples go to disk in small batches as they are read, each as its spill entry; what stays
in RAM is a few numbers per sample (spill file, offset, length, image size, group, digest), enough to order and cut
the shards (`plan.py`).

With a process pool, `ingest_parallel` has every process parse the annotation files but build, stat and spill
only its share of the records (chunks of _STAT_CHUNK input positions, dealt in turn), each to its own spill file;
the shares are merged back in input order, so samples, rejections and plan hashes are those of `ingest`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from array import array
from collections import deque
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from interhand.config import PreprocessConfig
from interhand.preprocess.sources import Record, Rejection, SourceError, SourceReading, open_source
from interhand.preprocess.sources.common import error_row, image_rejection
from interhand.preprocess.spill import open_spill, spill_entries
from interhand.shard_format.sample import Sample

__all__ = ["Ingest", "DIGEST_BYTES", "ingest", "ingest_parallel", "share_progress", "stat_images", "spill_records"]

DIGEST_BYTES = 20  # per sample: SHA-1 of its spill entry and its image file's size and change stamp
_SPILL_BATCH = 256  # samples packed into `.ann` records at once
_STAT_CHUNK = 512  # records whose image files one task stats; also the unit dealt to ingest_parallel's processes
_STATS_AHEAD = 8   # chunks whose stats may be pending before ingest waits for the oldest


@dataclass
class Ingest:
    """What the ingest pass kept: per-sample numbers (spill offsets, image sizes, ...) and the rejections."""

    spill_paths: list = field(default_factory=list)  # spill_files[sample] indexes it
    spill_files: array = field(default_factory=lambda: array("b"))
    offsets: array = field(default_factory=lambda: array("q"))
    lengths: array = field(default_factory=lambda: array("q"))
    image_bytes: array = field(default_factory=lambda: array("q"))
    interacting: array = field(default_factory=lambda: array("b"))
    digests: bytearray = field(default_factory=bytearray)  # DIGEST_BYTES per sample
    rejections: list = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.offsets)

    @property
    def inputs(self) -> int:
        return self.samples + len(self.rejections)


_inside_cache: dict[tuple[str, str], bool] = {}  # (image root, folder) → the folder resolves inside the root;
# emptied at the start of each ingest pass, so that a long-lived process sees folders relinked since


def _resolves_inside(path: str, image_root: str) -> bool:
    real_root = os.path.realpath(image_root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def stat_images(paths: list[str], image_root: Optional[str] = None) -> list[Union[tuple[int, str], str, None]]:
    """(size, change stamp) per image file, None where it cannot be stat'ed (missing), or the reason it must not be
    read: not a regular file, or (with `image_root`) resolving outside that folder, through a symlinked file
    or folder. Folders are resolved once per process; a file is resolved only when it is itself a symlink.
    The change stamp is mtime, ctime and inode: writing a file in place updates its ctime even when its size and
    mtime are then put back (no call sets ctime), and replacing it changes the inode; so resume sees every edit
    without reading a byte."""
    stats: list = []
    for path in paths:
        try:
            status = os.lstat(path)
            if image_root is not None:
                folder = os.path.dirname(path)
                inside = _inside_cache.get((image_root, folder))
                if inside is None:
                    inside = _inside_cache[(image_root, folder)] = _resolves_inside(folder, image_root)
                if stat.S_ISLNK(status.st_mode):
                    inside = inside and _resolves_inside(path, image_root)
                if not inside:  # where the link points is not said: errors.parquet is published, paths and all
                    stats.append(f"image path resolves outside {image_root} (a symlinked file or folder): {path}")
                    continue
            if stat.S_ISLNK(status.st_mode):
                status = os.stat(path)
        except OSError:
            stats.append(None)
            continue
        if not stat.S_ISREG(status.st_mode):
            stats.append(f"image path is not a regular file: {path}")
        else:
            stats.append((status.st_size, f"{status.st_mtime_ns} {status.st_ctime_ns} {status.st_ino}"))
    return stats


def ingest(reading: SourceReading, spill_path: Optional[Path], progress=None, keep: Optional[np.ndarray] = None,
           pool: Optional[Executor] = None) -> Ingest:
    """Stream every record once; Samples whose image file exists are spilled, the rest become error rows.

    `spill_path` None: numbers only (for planning). `keep`: a bool per sample; only those are spilled
    (the others get offset -1), so that a `--part` job spills only the samples of its own shards.
    `pool`: processes that stat the image files (the shard writers', idle until the plan exists) while
    this one goes on parsing: on a cold disk, one after another here, they took ~0.8 s of a 4 s ingest.
    """
    result = Ingest(spill_paths=[spill_path])
    _inside_cache.clear()
    with open_spill(spill_path) as spill:
        ingest_pass = _IngestPass(result, spill, spill_path is not None, keep, pool, reading.image_root)
        chunk: list[Record] = []
        for record in reading.records():
            chunk.append(record)
            if len(chunk) == _STAT_CHUNK:
                ingest_pass.submit(chunk)
                chunk = []
            if progress is not None:
                progress.update(1)
                if result.rejections:
                    progress.set_postfix(rejected=len(result.rejections), refresh=False)
        if chunk:
            ingest_pass.submit(chunk)
        ingest_pass.finish()
    return result


class _IngestPass:
    """Takes records in chunks, strictly in input order, once their image files are stat'ed."""

    def __init__(self, result: Ingest, spill, spilling: bool, keep: Optional[np.ndarray],
                 pool: Optional[Executor], image_root: Optional[Path], chunk_ends: Optional[list] = None) -> None:
        self.result, self.spill, self.spilling, self.keep, self.pool = result, spill, spilling, keep, pool
        self.image_root = None if image_root is None else str(image_root)
        self.pending: deque = deque()  # (records, their images' stats or a Future of them)
        self.batch: list[tuple[Sample, tuple[int, str], bool]] = []
        self.chunk_ends = chunk_ends  # if a list: each chunk is spilled whole, then its end noted here

    def submit(self, records: list[Record]) -> None:
        paths = [record.image_path for record in records if not isinstance(record, Rejection)]
        stats = stat_images(paths, self.image_root) if self.pool is None else \
            self.pool.submit(stat_images, paths, self.image_root)
        self.pending.append((records, stats))
        while self.pending and (len(self.pending) > _STATS_AHEAD or not isinstance(self.pending[0][1], Future)
                                or self.pending[0][1].done()):
            self._take(*self.pending.popleft())

    def finish(self) -> None:
        while self.pending:
            self._take(*self.pending.popleft())
        if self.batch:
            _spill(self.result, self.spill, self.batch)

    def _take(self, records: list[Record], stats) -> None:
        result, stats = self.result, iter(stats.result() if isinstance(stats, Future) else stats)
        for record in records:
            if isinstance(record, Rejection):
                result.rejections.append(error_row(record, "annotation"))
                continue
            status = next(stats)
            if status is None or isinstance(status, str):
                reason = status or f"image file missing: {record.image_path}"
                result.rejections.append(error_row(image_rejection(record, reason), "image"))
                continue
            wanted = self.spilling and (self.keep is None or bool(self.keep[result.samples + len(self.batch)]))
            self.batch.append((record, status, wanted))
            if len(self.batch) == _SPILL_BATCH:
                _spill(result, self.spill, self.batch)
        if self.chunk_ends is not None:
            if self.batch:
                _spill(result, self.spill, self.batch)
            self.chunk_ends.append((result.samples, len(result.rejections)))


_shared_progress = []  # in a pool process: the counter that share_progress gave it, if any


def share_progress(counter) -> None:
    """Pool initializer: ingest_parallel's processes add the records they take to `counter`, a shared
    multiprocessing Value('q') that the parent reads for its progress bar."""
    _shared_progress[:] = [counter]


def _ingest_share(config: PreprocessConfig, spill_path: Optional[str], share: tuple[int, int], chunk_size: int
                  ) -> tuple[Ingest, list[tuple[int, int]]]:
    """One process's part of ingest_parallel: the records at positions p with p // chunk_size % count == index.
    Returns them as an Ingest and, per chunk taken, the (samples, rejections) counts at its end."""
    index, count = share

    def mine(position: int) -> bool:
        return position // chunk_size % count == index

    result, ends = Ingest(spill_paths=[spill_path]), []
    # Stats are made here, chunk by chunk: a stat thread beside this CPU-bound one waits for the GIL after
    # every call (switch interval 5 ms) and made ingest slower, not faster.
    reading = open_source(config)
    _inside_cache.clear()
    with open_spill(spill_path) as spill:
        ingest_pass = _IngestPass(result, spill, spill_path is not None, None, None, reading.image_root, ends)
        chunk = []
        for position, record in enumerate(reading.records(mine)):
            if mine(position):
                chunk.append(record)
                if len(chunk) == chunk_size:
                    ingest_pass.submit(chunk)
                    chunk = []
                    for counter in _shared_progress:
                        with counter.get_lock():
                            counter.value += chunk_size
        if chunk:
            ingest_pass.submit(chunk)
        ingest_pass.finish()
    return result, ends


def ingest_parallel(config: PreprocessConfig, spill_paths: list[Optional[Path]], pool: Executor,
                    progress=None, chunk_size: int = _STAT_CHUNK, counter=None) -> Ingest:
    """`ingest` spread over the pool's processes, one share and spill file (None: numbers only) each: every
    process parses all records but builds, stats and spills only its own chunks (one process
    building every sample kept the other cores idle for ~2 s of a cold run). Same result as `ingest`.
    `counter`: the Value the pool's processes count records in (see share_progress), shown on `progress`."""
    count = len(spill_paths)
    futures = [pool.submit(_ingest_share, config, str(path) if path else None, (index, count), chunk_size)
               for index, path in enumerate(spill_paths)]
    while progress is not None and counter is not None and wait(futures, timeout=0.5).not_done:
        progress.update(counter.value - progress.n)
    shares = [future.result() for future in futures]
    merged = Ingest(spill_paths=list(spill_paths))
    taken = [0] * count
    for chunk in itertools.count():
        share, rank = chunk % count, chunk // count
        part, ends = shares[share]
        if rank == len(ends):
            break
        (first, first_rejection), (last, last_rejection) = ends[rank - 1] if rank else (0, 0), ends[rank]
        merged.spill_files.extend([share] * (last - first))
        for name in ("offsets", "lengths", "image_bytes", "interacting"):
            getattr(merged, name).extend(getattr(part, name)[first:last])
        merged.digests += part.digests[first * DIGEST_BYTES:last * DIGEST_BYTES]
        merged.rejections += part.rejections[first_rejection:last_rejection]
        taken[share] += 1
    if progress is not None:
        progress.update(merged.inputs - progress.n)
        if merged.rejections:
            progress.set_postfix(rejected=len(merged.rejections), refresh=False)
    if taken != [len(ends) for _, ends in shares]:
        raise SourceError(f"the ingest processes read different numbers of records from {config.data}: did the "
                          f"annotation files change during the run? Re-run once they are complete")
    return merged


def _spill(result: Ingest, spill, batch: list[tuple[Sample, tuple[int, str], bool]]) -> None:
    """Append the batch's records (those wanted) to the spill file and its numbers to `result`; empties it."""
    entries = spill_entries([sample for sample, _, _ in batch])
    for (sample, (size, stamp), wanted), data in zip(batch, entries):
        digest = hashlib.sha1(data)
        digest.update(f"{size} {stamp}".encode())  # a changed image invalidates its shard
        result.spill_files.append(0)
        result.offsets.append(spill.tell() if wanted else -1)
        result.lengths.append(len(data))
        result.image_bytes.append(size)
        result.interacting.append(sample.hand_type == "interacting")
        result.digests += digest.digest()
        if wanted:
            spill.write(data)
    batch.clear()


def spill_records(ingest_result: Ingest, samples: np.ndarray) -> tuple:
    """((spill file index, offset, length), ...) of the given samples, which must have been spilled."""
    records = tuple((ingest_result.spill_files[sample], ingest_result.offsets[sample], ingest_result.lengths[sample])
                    for sample in samples)
    if any(offset < 0 for _, offset, _ in records):
        raise RuntimeError("a planned sample was not spilled; the source changed between the two passes")
    return records
