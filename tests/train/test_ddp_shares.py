"""DDP on gloo ranks with shares that do not divide: training ends, every rank runs the same steps and batches and
ends with the same weights; evaluation scores every sample exactly once. Both loaders.

A split of 7 samples on 2, 3 and 5 ranks, at batch ⌊N/P⌋ and at a batch larger than the smallest share: before
equal shares (interhand.loaders.shares) these runs never ended. A hang fails the test at its timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interhand.loaders.shares import equal_share_batch_sizes

TOTAL = 7
JOBS_SCRIPT = Path(__file__).with_name("ddp_jobs.py")
TINY_MODEL = {"resnet_type": 18, "input_size": 64, "heatmap_size": 16}
TIMEOUT_S = 420


def _jobs(shards_root: Path, out: Path, ranks: int) -> tuple[list[dict], dict[Path, int]]:
    jobs, runs = [], {}
    for backend in ("reference", "dali"):
        loader = {"backend": backend, "device": "cpu", "threads": 1}
        for batch_size in (TOTAL // ranks, TOTAL // ranks + 1):  # ⌊N/P⌋, and more than the smallest share
            run_dir = out / f"{backend}_batch{batch_size}"
            runs[run_dir] = batch_size
            jobs.append({"job": "train", "config": {
                "shards": str(shards_root), "run_dir": str(run_dir), "epochs": 2, "log_every": 1, "model": TINY_MODEL,
                "loader": {**loader, "batch_size": batch_size, "shuffle_buffer": 4}}})
        jobs.append({"job": "eval", "config": {
            "checkpoint": str(run_dir / "model_dump" / "snapshot_1.pth.tar"), "split": "val", "root_source": "gt",
            "shards": str(shards_root), "run_dir": str(run_dir), "vis": 0,
            "loader": {**loader, "batch_size": 2, "augment": False, "box": "gt"}}})
    return jobs, runs


def _run_ranks(ranks: int, jobs_path: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
               str(JOBS_SCRIPT), str(jobs_path)]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and every rank
        output, _ = process.communicate()
        pytest.fail(f"{ranks} ranks did not finish in {TIMEOUT_S} s (a hang):\n{output[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output)


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3, 5])
def test_uneven_shares_train_in_step_and_evaluate_every_sample_once(synth_ih26m_7_shards, tmp_path, ranks):
    jobs, runs = _jobs(synth_ih26m_7_shards.parent.parent, tmp_path, ranks)
    jobs_path = tmp_path / "jobs.json"
    jobs_path.write_text(json.dumps(jobs))
    result = _run_ranks(ranks, jobs_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Grad strides do not match bucket view strides" not in result.stdout
    val_keys = set(pq.read_table(synth_ih26m_7_shards / "val" / "manifest.parquet", columns=["key"])["key"].to_pylist())
    assert len(val_keys) == TOTAL
    for run_dir, batch_size in runs.items():
        expected = equal_share_batch_sizes(TOTAL, ranks, batch_size)
        epochs = [json.loads(line) for line in (run_dir / "log" / "train_log.jsonl").read_text().splitlines()
                  if '"kind": "epoch"' in line]
        assert [entry["epoch"] for entry in epochs] == [0, 1], run_dir.name
        for entry in epochs:
            assert [rank["rank"] for rank in entry["ranks"]] == list(range(ranks))
            for rank in entry["ranks"]:
                assert rank["iterations"] == len(expected), (run_dir.name, entry["epoch"], rank)
                assert rank["batch_sizes"] == {str(rows): count for rows, count in Counter(expected).items()}
            assert len({rank["weights"] for rank in entry["ranks"]}) == 1, (run_dir.name, entry["ranks"])
    scored = [path for run_dir in runs for path in (run_dir / "result").glob("*/predictions.parquet")]
    assert len(scored) == 2  # one evaluation a backend
    for path in scored:
        keys = pq.read_table(path, columns=["key"])["key"].to_pylist()
        assert len(keys) == TOTAL and set(keys) == val_keys, path
