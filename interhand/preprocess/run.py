"""`interhand shards`: one split of one dataset → SHARDS/<dataset>/<annot-subset>/<split>/ (SHARD_FORMAT.md §1).

Phases: ingest (stream annotations → spill files + rejections; with N > 1 workers each worker process
parses the annotations and builds, stats and spills its share of them), plan (order, shard cuts), write
(the N workers, one shard each, resumable), finalize (manifest, errors, dataset.json last). `--part K/N`
runs ingest + plan for the whole split but writes only shards i with i % N == K; `--finalize` stitches parts.
"""

from __future__ import annotations

import fcntl
import functools
import json
import multiprocessing
import os
import select
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interhand import __version__
from interhand.config import PreprocessConfig, current_field_names
from interhand.manifests.schema import ERRORS_SCHEMA, MANIFEST_SCHEMA
from interhand.manifests.write import FRAGMENT_SUFFIX, concat_tables, fragment_table, write_errors, write_tables
from interhand.outputs import OutputError, make_folder, open_for_append, output_error_line, write_json
from interhand.preprocess import images
from interhand.preprocess.ingest import ingest, ingest_parallel, share_progress, spill_records
from interhand.preprocess.plan import plan_shards
from interhand.preprocess.provenance import published_config, published_sources, reproducing_command
from interhand.preprocess.publish import write_published_files
from interhand.preprocess.shard_writer import ShardJob, ShardResult, partial_paths, write_shard
from interhand.preprocess.sources import SourceError, check_root, open_source
from interhand.preprocess.sources.common import data_relative
from interhand.progress import progress
from interhand.shard_format.dataset_json import (
    Counts,
    DatasetJson,
    FileRecord,
    ShardRecord,
    file_sha256,
    write_dataset_json,
)
from interhand.shard_format.names import (
    CHECKSUMS_FILE,
    DATASET_FILE,
    ERRORS_FILE,
    INDEX_SUFFIX,
    KEY_PREFIX,
    MANIFEST_FILE,
    PUBLISHED_FILES,
    RECORDED_FILES,
    SHARD_SUFFIX,
    index_name,
    split_dir,
)
from interhand.shard_format.records import IMAGE_ENCODINGS

__all__ = ["run", "finalize", "shard_dir", "TooManyErrors", "WriteFailed", "RunSummary"]


class TooManyErrors(RuntimeError):
    """More rejected samples than --max-errors allows; everything was written, for inspection."""


class WriteFailed(RuntimeError):
    """The job stopped for a reason outside the input (disk full, a worker process killed, a corrupt or
    unreadable file): one line that says what and where. Finished shards are kept for the re-run."""


def _one_line_failures(function):
    """`function` (run or finalize), with OSError and a dead worker process turned into WriteFailed."""
    @functools.wraps(function)
    def wrapped(config: PreprocessConfig, *args, **kwargs):
        where = shard_dir(config)
        try:
            return function(config, *args, **kwargs)
        except (OutputError, OSError) as error:  # OutputError: already one line (a worker's too, or a link refused)
            line = str(error) if isinstance(error, OutputError) else output_error_line(error, where)
            if line.startswith("the disk is full"):
                line += "; free space there and re-run (finished shards are kept)"
            raise WriteFailed(line) from error
        except BrokenProcessPool as error:
            raise WriteFailed(f"a worker process of this job died (killed, or out of memory? From a Python script: "
                              f"the workers re-import it, so it needs an `if __name__ == \"__main__\":` guard) while "
                              f"writing {where}; re-run to resume") from error
    return wrapped


@dataclass(frozen=True)
class RunSummary:
    out_dir: str
    inputs: int
    samples: int
    errors: int
    shards: int
    resumed_shards: int

    def __str__(self) -> str:
        return (f"{self.out_dir}: {self.samples} samples in {self.shards} shards, {self.errors} rejected "
                f"of {self.inputs} input annotations ({self.resumed_shards} shards kept from an earlier run)")


def shard_dir(config: PreprocessConfig) -> Path:
    return split_dir(check_root(Path(config.shards), "output folder"), config.dataset, config.annot_subset,
                     config.split)


def _part_path(work: Path, index: int, count: int, suffix: str) -> Path:
    return work / f"part-{index}-of-{count}{suffix}"


def _writer_pool(config: PreprocessConfig) -> tuple[Optional[ProcessPoolExecutor], object]:
    """The shard writers' processes (None for --workers 1: shards are written here), which first ingest the
    split, each its share, and the shared counter of records they took (for the progress bar)."""
    if config.workers == 1:
        return None, None
    # forkserver: workers start from a clean process, safe even when the caller runs threads (DALI, torch).
    context = multiprocessing.get_context("forkserver")
    counter = context.Value("q", 0)
    return ProcessPoolExecutor(config.workers, mp_context=context, initializer=_start_worker,
                               initargs=(counter, os.getpid())), counter


def _start_worker(counter, main_pid: int) -> None:
    """Pool initializer: the worker ends itself as soon as this job's main process is gone, then
    share_progress."""
    exit_with_main(main_pid)
    share_progress(counter)


def exit_with_main(main_pid: int) -> None:
    """In a pool worker: end this process as soon as the job's main process is gone (killed included). A
    watchdog thread waits on a pidfd of the main process (Linux >= 5.3; elsewhere it polls the pid every second).
    The parent-death signal (prctl PR_SET_PDEATHSIG) cannot do it: a worker's parent is the forkserver, which
    lives on as long as any worker does."""
    try:
        watched = os.pidfd_open(main_pid)
    except ProcessLookupError:
        os._exit(1)  # the main process died before this worker started
    except (AttributeError, OSError):
        watched = None
    threading.Thread(target=_exit_with, args=(main_pid, watched), daemon=True, name="exit-with-main").start()


def _exit_with(main_pid: int, watched: int | None) -> None:
    if watched is not None:
        select.select([watched], [], [])  # readable once the process has exited
    else:
        while True:
            time.sleep(1.0)
            try:
                os.kill(main_pid, 0)
            except ProcessLookupError:
                break
    os._exit(1)


def _write_jobs(jobs: list[ShardJob], config: PreprocessConfig, pool: Optional[ProcessPoolExecutor]
                ) -> list[ShardResult]:
    results = []
    bar = progress(total=len(jobs), desc=f"write {config.split} shards", unit="shard", enabled=config.progress)
    written = rejected = 0

    def note(result: ShardResult) -> None:
        nonlocal written, rejected
        written, rejected = written + result.samples, rejected + result.errors
        results.append(result)
        bar.update(1)
        bar.set_postfix(samples=written, rejected=rejected)

    for result in map(write_shard, jobs) if pool is None or len(jobs) <= 1 else pool.map(write_shard, jobs):
        note(result)
    bar.close()
    return results


def _ingest_and_plan(reading, config: PreprocessConfig, spill_paths: list[Path], part: tuple[int, int], pool,
                     counter):
    """One pass for a single job (spread over the pool, one spill file per process). A part job plans from a
    first pass, then spills only its own shards' samples in a second (serial, to spill_paths[0]), so that N
    parts do not each write the whole split to disk."""
    part_index, part_count = part
    bar = progress(desc=f"read {config.dataset} {config.split}", unit="ann", enabled=config.progress)
    if pool is None:
        ingested = ingest(reading, spill_paths[0] if part_count == 1 else None, bar)
    else:
        ingested = ingest_parallel(config, spill_paths if part_count == 1 else [None] * len(spill_paths), pool, bar,
                                   counter=counter)
    plan = plan_shards(ingested, config)
    if part_count > 1:
        keep = np.zeros(ingested.samples, dtype=bool)
        for index, (_, samples, _) in enumerate(plan):
            keep[samples] = index % part_count == part_index
        bar.reset()
        bar.set_description(f"spill part {part_index}/{part_count}")
        ingested = ingest(reading, spill_paths[0], bar, keep=keep, pool=pool)
    bar.close()
    return ingested, plan


@_one_line_failures
def run(config: PreprocessConfig) -> RunSummary | None:
    """Run this job's part; returns the summary when the split is complete (single job), else None."""
    part_index, part_count = config.part_index, config.part_count
    if config.jpeg == "baseline" and not images.REENCODING:
        raise SourceError("--jpeg baseline re-encodes with the C extension interhand/preprocess/_jpeg_baseline.c, "
                          "which is not built here (needs cc and libjpeg-dev; `make venv`): build it or pass "
                          "--jpeg source")
    reading = open_source(config)
    out_dir = shard_dir(config)
    work = out_dir / ".work"
    make_folder(work / "shards", within=out_dir)
    with _folder_lock(work, (part_index, part_count)):
        return _run_locked(config, reading, out_dir)


def _run_locked(config: PreprocessConfig, reading, out_dir: Path) -> RunSummary | None:
    part_index, part_count = config.part_index, config.part_count
    work = out_dir / ".work"
    pool, counter = _writer_pool(config)
    spill_paths = [_part_path(work, part_index, part_count, f".spill{share}") for share in range(config.workers)]
    jobs: list[ShardJob] = []
    try:
        ingested, plan = _ingest_and_plan(reading, config, spill_paths, (part_index, part_count), pool, counter)
        used = tuple(str(path) for path in ingested.spill_paths)
        jobs = [ShardJob(index, name, str(out_dir), str(work), used, spill_records(ingested, samples),
                         plan_hash, config.annot_subset, config.full_decode, config.jpeg, str(config.data))
                for index, (name, samples, plan_hash) in enumerate(plan) if index % part_count == part_index]
        _invalidate(out_dir)
        results = _write_jobs(jobs, config, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        for job in jobs:  # a worker killed mid-shard cannot remove its partial files itself
            for path in partial_paths(job):
                path.unlink(missing_ok=True)
        for path in spill_paths:  # as large as the annotations: never left behind, also not by a failure
            path.unlink(missing_ok=True)
    # paths relative to the dataset folder here, where they are what this job read (the shard writers do the same)
    write_errors([data_relative(row, config.data) for row in ingested.rejections],
                 _part_path(work, part_index, part_count, ".errors" + FRAGMENT_SUFFIX), fragment=True)
    record = {
        "part": [part_index, part_count], "inputs": ingested.inputs, "layout": reading.layout,
        "plan": [{"name": name, "plan_hash": plan_hash} for name, _, plan_hash in plan],
        "sources": published_sources(reading.files, config.data),
        "joint_names": list(reading.joint_names), "parents": list(reading.parents),
        "config": asdict(config),
        "resumed_shards": sum(result.resumed for result in results),
    }
    write_json(_part_path(work, part_index, part_count, ".json"), record, indent=1)
    return _finalize_locked(config) if part_count == 1 else None


@contextmanager
def _folder_lock(work: Path, part: tuple[int, int] | None):
    """Hold the folder's locks while this job writes: a single job (part 0/1) or --finalize (`part` None) holds
    `.work/lock` exclusively; a part job holds it shared (the parts of one split run at once) and its own
    `.work/lock-part-K-of-N` exclusively. A second job on the same folder or part refuses with one line.
    flock locks die with their process, so a killed job never leaves a stale lock."""
    wanted = [(work / "lock", fcntl.LOCK_EX if part is None or part[1] == 1 else fcntl.LOCK_SH)]
    if part is not None and part[1] > 1:
        wanted.append((_part_path(work, part[0], part[1], ".lock"), fcntl.LOCK_EX))
    with ExitStack() as stack:
        for path, mode in wanted:
            handle = stack.enter_context(open_for_append(path))  # never through a planted link
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SourceError(f"{work.parent} is being written by another `interhand shards` (it holds {path}); "
                                  "wait for it to end or stop it, then re-run") from None
        yield


def _invalidate(out_dir: Path) -> None:
    """Before the first tar is replaced: the folder stops looking finished (SHA256SUMS and dataset.json first,
    then the files they vouch for), so that no reader takes a half-rewritten folder for the earlier finished one."""
    for name in (CHECKSUMS_FILE, DATASET_FILE, *RECORDED_FILES, *PUBLISHED_FILES):
        (out_dir / name).unlink(missing_ok=True)


def _read_work_record(path: Path, remedy: str) -> dict:
    """A JSON record of the resume state (.work/), or WriteFailed naming it if it is not one (a crash, an edit)."""
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WriteFailed(f"{path} is corrupt ({error}); {remedy}") from None
    if not isinstance(record, dict):
        raise WriteFailed(f"{path} is corrupt (a JSON {type(record).__name__}, not an object); {remedy}")
    return record


def _read_fragments(paths: list[Path], schema, remedy: str):
    """concat_tables of .work fragments; WriteFailed naming the first unreadable one."""
    try:
        return concat_tables(paths, schema)
    except (pa.ArrowException, ValueError, KeyError) as error:
        for path in paths:
            try:
                concat_tables([path], schema)
            except (pa.ArrowException, ValueError, KeyError) as path_error:
                raise WriteFailed(f"{path} is corrupt ({path_error}); {remedy}") from None
        raise WriteFailed(f"the fragments in {paths[0].parent} do not fit together ({error}); {remedy}") from None


def _manifest_fragments(paths: list[Path], remedy: str) -> tuple[int, list[str], dict[str, int]]:
    """(rows, image members, rows per image encoding) of the shards' manifest fragments, each opened alone
    (memory-mapped; only those two columns touched); WriteFailed naming the first unreadable one."""
    rows, members, encodings = 0, set(), dict.fromkeys(IMAGE_ENCODINGS, 0)
    for path in paths:
        try:
            table = fragment_table(path, MANIFEST_SCHEMA)
        except (pa.ArrowException, ValueError, KeyError) as error:
            raise WriteFailed(f"{path} is corrupt ({error}); {remedy}") from None
        rows += table.num_rows
        members.update(pc.unique(table["image_member"]).to_pylist())
        for entry in pc.value_counts(table["image_encoding"]).to_pylist():
            encodings[entry["values"]] = encodings.get(entry["values"], 0) + entry["counts"]
    return rows, sorted(members), {encoding: encodings[encoding] for encoding in IMAGE_ENCODINGS}


def _load_parts(work: Path, count: int) -> list[dict]:
    parts = []
    for index in range(count):
        path = _part_path(work, index, count, ".json")
        if not path.is_file():
            raise SourceError(f"part {index} of {count} is missing ({path}); run `interhand shards --part "
                              f"{index}/{count}` with the same options, then --finalize")
        parts.append(_read_work_record(path, f"re-run `interhand shards --part {index}/{count}`, then --finalize"))
    if any(part["plan"] != parts[0]["plan"] for part in parts):
        raise SourceError(f"the parts in {work} were planned differently (different inputs or options)")
    return parts


def _check_shards(out_dir: Path, work: Path, plan: list[dict]) -> list[ShardRecord]:
    shards = []
    for entry in plan:
        done_path = work / "shards" / f"{entry['name']}.done.json"
        done = _read_work_record(done_path, "re-run the job to rewrite that shard") if done_path.is_file() else None
        if done is None or done["plan_hash"] != entry["plan_hash"] or not (out_dir / entry["name"]).is_file():
            raise SourceError(f"shard {entry['name']} is not finished; re-run its part")
        shards.append(ShardRecord(entry["name"], index_name(entry["name"]), done["samples"], done["bytes"],
                                  done["sha256"]))
    return shards


def _remove_stale(out_dir: Path, shards: list[ShardRecord]) -> None:
    keep = {shard.name for shard in shards} | {shard.index for shard in shards}
    for path in out_dir.iterdir():
        if path.is_file() and path.suffix in (SHARD_SUFFIX, INDEX_SUFFIX, ".tmp") and path.name not in keep:
            path.unlink()


@_one_line_failures
def finalize(config: PreprocessConfig) -> RunSummary:
    """Stitch all parts into manifest.parquet, errors.parquet and dataset.json (written last)."""
    work = shard_dir(config) / ".work"
    if not work.is_dir():
        raise SourceError(f"{work} not found: no part of this split has run (run `interhand shards --part K/N`)")
    with _folder_lock(work, None):
        return _finalize_locked(config)


def _finalize_locked(config: PreprocessConfig) -> RunSummary:
    part_count = config.part_count
    out_dir = shard_dir(config)
    work = out_dir / ".work"
    parts = _load_parts(work, part_count)
    shards = _check_shards(out_dir, work, parts[0]["plan"])
    _remove_stale(out_dir, shards)
    fragments = [work / "shards" / f"{shard.name}.manifest{FRAGMENT_SUFFIX}" for shard in shards]
    remedy = "delete it and the .done.json of its shard, then re-run the job (or its part) to rewrite them"
    samples, image_members, image_encodings = _manifest_fragments(fragments, remedy)
    # Annotation-level rejections are the same in every part (all parts read the whole split).
    errors = _read_fragments([_part_path(work, 0, part_count, ".errors" + FRAGMENT_SUFFIX)]
                             + [work / "shards" / f"{shard.name}.errors{FRAGMENT_SUFFIX}" for shard in shards],
                             ERRORS_SCHEMA, remedy)
    inputs = parts[0]["inputs"]
    if samples + errors.num_rows != inputs:
        raise RuntimeError(f"{out_dir}: {samples} samples + {errors.num_rows} errors != {inputs} inputs")
    _invalidate(out_dir)  # --finalize on a finished folder: it is rewritten from here on
    # A shard's fragment at a time (#31: the train manifest is ~3 GB as one table).
    write_tables((fragment_table(path, MANIFEST_SCHEMA) for path in fragments), out_dir / MANIFEST_FILE,
                 MANIFEST_SCHEMA)
    write_errors(errors, out_dir / ERRORS_FILE)
    error_fraction = errors.num_rows / inputs if inputs else 0.0
    # a part recorded by an older version names the fields as they were (root, subset, out): record today's
    recorded = published_config(current_field_names(PreprocessConfig, parts[0]["config"]))
    dataset = DatasetJson(
        dataset=config.dataset, subset=config.annot_subset, split=config.split, layout=parts[0]["layout"],
        key_prefix=KEY_PREFIX[config.dataset],
        counts=Counts(input_annotations=inputs, samples=samples, errors=errors.num_rows, shards=len(shards)),
        shards=tuple(shards), sources=tuple(parts[0]["sources"]), image_members=tuple(image_members),
        image_encodings=image_encodings,
        joint_names=tuple(parts[0]["joint_names"]), skeleton_parents=tuple(parts[0]["parents"]),
        config=recorded, command_line=tuple(reproducing_command(recorded)),
        package={"name": "interhand", "version": __version__}, parts=part_count,
        complete=error_fraction <= config.max_errors, error_fraction=error_fraction, max_errors=config.max_errors,
        files={name: FileRecord((out_dir / name).stat().st_size, file_sha256(out_dir / name))
               for name in RECORDED_FILES})
    write_dataset_json(out_dir, dataset)
    write_published_files(out_dir, dataset)  # SHA256SUMS last: from here on the folder is finished
    shutil.rmtree(work)  # the resume state: a finished folder is re-made from scratch, byte for byte
    summary = RunSummary(str(out_dir), inputs, samples, errors.num_rows, len(shards),
                         sum(part["resumed_shards"] for part in parts))
    if not dataset.complete:
        raise TooManyErrors(f"{summary}; more than --max-errors {config.max_errors:g} of the input: see "
                            f"{out_dir / ERRORS_FILE} (dataset.json says complete: false; readers refuse "
                            "the folder unless given --accept-incomplete)")
    return summary
