"""`interhand shards`: one split of one dataset → OUT/<dataset>/<subset>/<split>/ (SHARD_FORMAT.md §1).

Phases: ingest (stream annotations → spill files + rejections; with N > 1 workers each worker process
parses the annotations and builds, stats and spills its share of them), plan (order, shard cuts), write
(the N workers, one shard each, resumable), finalize (manifest, errors, dataset.json last). `--part K/N`
runs ingest + plan for the whole split but writes only shards i with i % N == K; `--finalize` stitches parts.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from interhand import __version__
from interhand.config import PreprocessConfig, parse_part
from interhand.manifests.schema import ERRORS_SCHEMA, MANIFEST_SCHEMA
from interhand.manifests.write import FRAGMENT_SUFFIX, concat_tables, write_errors, write_manifest
from interhand.preprocess import shard_writer
from interhand.preprocess.plan import ingest, ingest_parallel, plan_shards, share_progress, spill_records
from interhand.preprocess.shard_writer import ShardJob, ShardResult, write_shard
from interhand.preprocess.sources import SourceError, open_source
from interhand.shard_format import ANN_BYTES, ANN_LAYOUT, FORMAT_VERSION, IMAGE_ENCODINGS, KEY_PREFIX

__all__ = ["run", "finalize", "shard_dir", "TooManyErrors", "RunSummary"]


class TooManyErrors(RuntimeError):
    """More rejected samples than --max-errors allows; everything was written, for inspection."""


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
    return Path(config.out) / config.dataset / config.subset / config.split


def _part_path(work: Path, index: int, count: int, suffix: str) -> Path:
    return work / f"part-{index}-of-{count}{suffix}"


def _writer_pool(config: PreprocessConfig) -> tuple[Optional[ProcessPoolExecutor], object]:
    """The shard writers' processes (None for --workers 1: shards are written here), which first ingest the
    split, each its share (issue 3), and the shared counter of records they took (for the progress bar)."""
    if config.workers == 1:
        return None, None
    # forkserver: workers start from a clean process, safe even when the caller runs threads (DALI, torch).
    context = multiprocessing.get_context("forkserver")
    counter = context.Value("q", 0)
    return ProcessPoolExecutor(config.workers, mp_context=context, initializer=share_progress,
                               initargs=(counter,)), counter


def _write_jobs(jobs: list[ShardJob], config: PreprocessConfig, pool: Optional[ProcessPoolExecutor]
                ) -> list[ShardResult]:
    results = []
    bar = tqdm(total=len(jobs), desc=f"write {config.split} shards", unit="shard", disable=not config.progress)
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
    bar = tqdm(desc=f"read {config.dataset} {config.split}", unit="ann", disable=not config.progress)
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


def run(config: PreprocessConfig, command_line: list[str] | None = None) -> RunSummary | None:
    """Run this job's part; returns the summary when the split is complete (single job), else None."""
    part_index, part_count = parse_part(config.part)
    if config.jpeg == "baseline" and not shard_writer.REENCODING:
        raise SourceError("--jpeg baseline re-encodes with the C extension interhand/preprocess/_jpeg_baseline.c, "
                          "which is not built here (needs cc and libjpeg-dev; `make venv`): build it or pass "
                          "--jpeg source")
    reading = open_source(config)
    out_dir = shard_dir(config)
    work = out_dir / ".work"
    (work / "shards").mkdir(parents=True, exist_ok=True)
    pool, counter = _writer_pool(config)
    spill_paths = [_part_path(work, part_index, part_count, f".spill{share}") for share in range(config.workers)]
    try:
        ingested, plan = _ingest_and_plan(reading, config, spill_paths, (part_index, part_count), pool, counter)
        used = tuple(str(path) for path in ingested.spill_paths)
        jobs = [ShardJob(index, name, str(out_dir), str(work), used, spill_records(ingested, samples),
                         plan_hash, config.subset, config.full_decode, config.jpeg, str(config.root))
                for index, (name, samples, plan_hash) in enumerate(plan) if index % part_count == part_index]
        results = _write_jobs(jobs, config, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    for path in ingested.spill_paths:
        path.unlink()
    write_errors(ingested.rejections, _part_path(work, part_index, part_count, ".errors" + FRAGMENT_SUFFIX),
                 fragment=True)
    record = {
        "part": [part_index, part_count], "inputs": ingested.inputs, "layout": reading.layout,
        "plan": [{"name": name, "plan_hash": plan_hash} for name, _, plan_hash in plan],
        "sources": [{"path": str(path), "bytes": path.stat().st_size} for path in reading.files],
        "joint_names": list(reading.joint_names), "parents": list(reading.parents),
        "config": asdict(config), "command_line": command_line or [],
        "resumed_shards": sum(result.resumed for result in results),
    }
    _part_path(work, part_index, part_count, ".json").write_text(json.dumps(record, indent=1))
    return finalize(config, command_line) if part_count == 1 else None


def _load_parts(work: Path, count: int) -> list[dict]:
    parts = []
    for index in range(count):
        path = _part_path(work, index, count, ".json")
        if not path.is_file():
            raise SourceError(f"part {index} of {count} is missing ({path}); run `interhand shards --part "
                              f"{index}/{count}` with the same options, then --finalize")
        parts.append(json.loads(path.read_text()))
    if any(part["plan"] != parts[0]["plan"] for part in parts):
        raise SourceError(f"the parts in {work} were planned differently (different inputs or options)")
    return parts


def _check_shards(out_dir: Path, work: Path, plan: list[dict]) -> list[dict]:
    shards = []
    for entry in plan:
        done_path = work / "shards" / f"{entry['name']}.done.json"
        done = json.loads(done_path.read_text()) if done_path.is_file() else None
        if done is None or done["plan_hash"] != entry["plan_hash"] or not (out_dir / entry["name"]).is_file():
            raise SourceError(f"shard {entry['name']} is not finished; re-run its part")
        shards.append({"name": entry["name"], "index": entry["name"].replace(".tar", ".idx"),
                       "samples": done["samples"], "bytes": done["bytes"], "sha256": done["sha256"]})
    return shards


def _remove_stale(out_dir: Path, shards: list[dict]) -> None:
    keep = {shard["name"] for shard in shards} | {shard["index"] for shard in shards}
    for path in out_dir.iterdir():
        if path.is_file() and path.suffix in (".tar", ".idx", ".tmp") and path.name not in keep:
            path.unlink()


def finalize(config: PreprocessConfig, command_line: list[str] | None = None) -> RunSummary:
    """Stitch all parts into manifest.parquet, errors.parquet and dataset.json (written last)."""
    _, part_count = parse_part(config.part)
    out_dir = shard_dir(config)
    work = out_dir / ".work"
    parts = _load_parts(work, part_count)
    shards = _check_shards(out_dir, work, parts[0]["plan"])
    _remove_stale(out_dir, shards)
    fragments = [work / "shards" / f"{shard['name']}.manifest{FRAGMENT_SUFFIX}" for shard in shards]
    manifest = concat_tables(fragments, MANIFEST_SCHEMA)
    # Annotation-level rejections are the same in every part (all parts read the whole split).
    errors = concat_tables([_part_path(work, 0, part_count, ".errors" + FRAGMENT_SUFFIX)]
                           + [work / "shards" / f"{shard['name']}.errors{FRAGMENT_SUFFIX}" for shard in shards],
                           ERRORS_SCHEMA)
    inputs = parts[0]["inputs"]
    if manifest.num_rows + errors.num_rows != inputs:
        raise RuntimeError(f"{out_dir}: {manifest.num_rows} samples + {errors.num_rows} errors != {inputs} inputs")
    write_manifest(manifest, out_dir / "manifest.parquet")
    write_errors(errors, out_dir / "errors.parquet")
    image_members = sorted(set(manifest["image_member"].to_pylist())) if manifest.num_rows else []
    dataset = {
        "format_version": FORMAT_VERSION, "dataset": config.dataset, "subset": config.subset,
        "split": config.split, "layout": parts[0]["layout"], "key_prefix": KEY_PREFIX[config.dataset],
        "counts": {"input_annotations": inputs, "samples": manifest.num_rows, "errors": errors.num_rows,
                   "shards": len(shards)},
        "shards": shards, "sources": parts[0]["sources"], "image_members": image_members,
        "image_encodings": {encoding: manifest["image_encoding"].to_pylist().count(encoding)
                            for encoding in IMAGE_ENCODINGS},
        "ann": {"dtype": "<f4", "bytes": ANN_BYTES,
                "fields": {name: {"offset": offset, "shape": list(shape)} for name, (offset, shape) in ANN_LAYOUT.items()}},
        "joint_names": parts[0]["joint_names"], "skeleton_parents": parts[0]["parents"],
        "config": parts[0]["config"], "command_line": command_line or parts[0]["command_line"],
        "package": {"name": "interhand", "version": __version__}, "parts": part_count,
    }
    temporary = out_dir / "dataset.json.tmp"
    temporary.write_text(json.dumps(dataset, indent=1) + "\n")
    os.replace(temporary, out_dir / "dataset.json")
    summary = RunSummary(str(out_dir), inputs, manifest.num_rows, errors.num_rows, len(shards),
                         sum(part["resumed_shards"] for part in parts))
    if errors.num_rows > config.max_errors * inputs:
        raise TooManyErrors(f"{summary}; more than --max-errors {config.max_errors:g} of the input: "
                            f"see {out_dir / 'errors.parquet'}")
    return summary
