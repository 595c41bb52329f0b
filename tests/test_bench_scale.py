"""`make bench-scale`'s synthetic InterHand2.6M: what its figures stand on. Every annotation it writes is one the
shard writer accepts (so each job's N is the split size), and the splits written in two processes are the bytes
written in one (the same dataset at any --workers)."""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import pytest

from interhand.config import PreprocessConfig
from interhand.preprocess.run import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
bench_scale = pytest.importorskip("bench_scale")

_SIZES = {"train": 300, "val": 120, "test": 200}


def _same_tree(a: Path, b: Path) -> bool:
    compared = filecmp.dircmp(a, b)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    if filecmp.cmpfiles(a, b, compared.common_files, shallow=False)[1:] != ([], []):
        return False
    return all(_same_tree(a / name, b / name) for name in compared.common_dirs)


def test_every_synthetic_annotation_is_sharded_and_the_dataset_does_not_depend_on_the_processes(tmp_path):
    one, two = tmp_path / "one" / "InterHand2.6M", tmp_path / "two" / "InterHand2.6M"
    bench_scale.write_dataset(one, _SIZES, processes=1)
    bench_scale.write_dataset(two, _SIZES, processes=2)
    assert _same_tree(one, two)
    assert len(list((one / "images").rglob("*.jpg"))) == sum(_SIZES.values())
    for split, size in _SIZES.items():
        summary = run(PreprocessConfig(data=str(one), shards=str(tmp_path / "shards"), split=split, workers=1,
                                       progress=False))
        assert (summary.inputs, summary.samples, summary.errors) == (size, size, 0), split


def test_a_jobs_cpu_time_counts_the_processes_it_did_not_wait_for(tmp_path):
    # shards' and verify's workers are a forkserver's children, never waited for by the job: the bench reaps them
    # (a subreaper), so their CPU time is in the figure. Here a job starts a process that burns ~0.6 s of CPU and
    # exits without waiting for it.
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
    job = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {burn!r}])\n"
    figures = bench_scale._timed([sys.executable, "-c", job], tmp_path / "job.log")
    assert figures["cpu_s"] >= 0.55 and figures["rss_mib"] > 0, figures
