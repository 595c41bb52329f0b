"""The life cycle of a shard folder: a rewrite never looks finished, one job at a time, workers die with the
job, resume keeps only what is unchanged, a run past --max-errors says so in dataset.json."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import LoaderConfig, PreprocessConfig
from interhand.loaders.build import build_loader
from interhand.manifests.read import read_manifest
from interhand.preprocess.run import TooManyErrors, run, shard_dir
from interhand.preprocess.sources import SourceError
from interhand.shard_format.dataset_json import IncompleteShardsError

from helpers import run_unfinished


def _config(root: Path, out: Path, **changes) -> PreprocessConfig:
    return PreprocessConfig(data=str(root), split="test", shards=str(out), progress=False, **changes)


@pytest.fixture
def real_root(tmp_path, real_ih26m_root) -> Path:
    """A private copy of the four real samples (the tests edit it)."""
    root = tmp_path / "InterHand2.6M"
    shutil.copytree(real_ih26m_root, root)
    return root


def _images(root: Path) -> list[Path]:
    return sorted((root / "images").rglob("*.jpg"))


def test_a_folder_being_rewritten_stops_looking_finished_before_a_tar_is_replaced(tmp_path, real_root, monkeypatch):
    import interhand.preprocess.run as preprocess_run

    config = _config(real_root, tmp_path / "out")
    run(config)
    out = shard_dir(config)

    def die(jobs, *args):
        assert all((out / job.name).is_file() for job in jobs)  # the old tars are still there ...
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(preprocess_run, "_write_jobs", die)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    # ... but nothing says they are a finished folder any more
    assert not any((out / name).exists() for name in ("dataset.json", "manifest.parquet", "errors.parquet"))
    with pytest.raises(FileNotFoundError, match="not a finished shard directory"):
        build_loader(out, LoaderConfig(backend="reference", augment=False))


@pytest.mark.parametrize("part, held", [("0/1", "lock"), ("1/2", "part-1-of-2.lock")])
def test_a_second_job_on_one_folder_refuses_in_one_line(tmp_path, real_root, part, held):
    config = _config(real_root, tmp_path / "out", part=part)
    work = shard_dir(config) / ".work"
    work.mkdir(parents=True)
    with open(work / held, "a") as lock:  # what the first job holds while it runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(SourceError, match="is being written by another `interhand shards`"):
            run(config)
        result = CliRunner().invoke(main, ["shards", "--root", str(real_root), "--split", "test", "--out",
                                           str(tmp_path / "out"), "--part", part, "--no-progress"])
        assert result.exit_code == 1 and "being written by another" in result.output
        assert "Traceback" not in result.output
    run(config)  # once the first job is gone (its lock dies with it), the folder is free


def test_parts_of_one_split_run_side_by_side(tmp_path, real_root):
    config = _config(real_root, tmp_path / "out", part="0/2", shard_samples=2)
    work = shard_dir(config) / ".work"
    work.mkdir(parents=True)
    with open(work / "lock", "a") as shared, open(work / "part-1-of-2.lock", "a") as other:
        fcntl.flock(shared, fcntl.LOCK_SH)  # part 1/2 is running
        fcntl.flock(other, fcntl.LOCK_EX)
        run(config)
        result = CliRunner().invoke(main, ["shards", "--root", str(real_root), "--split", "test", "--out",
                                           str(tmp_path / "out"), "--part", "0/2", "--finalize", "--no-progress"])
        assert result.exit_code == 1 and "being written by another" in result.output  # not while parts run


def test_workers_die_with_the_main_process(tmp_path):
    """The writers' pool as `interhand shards` starts it; its main process is then killed with SIGKILL."""
    script = (
        "import os, sys, time\n"
        "from interhand.config import PreprocessConfig\n"
        "from interhand.preprocess.run import _writer_pool\n"
        "pool, _ = _writer_pool(PreprocessConfig(workers=2))\n"
        "futures = [pool.submit(time.sleep, 120) for _ in range(2)]\n"
        "time.sleep(1)\n"
        "print(' '.join(map(str, pool._processes)), flush=True)\n"
        "time.sleep(120)\n")
    main_process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in main_process.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(main_process.pid, signal.SIGKILL)
    main_process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and
                                              Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
                                              for pid in workers):
        time.sleep(0.1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"]
    for pid in alive:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed main process"


def test_resume_rewrites_a_shard_whose_index_was_edited(tmp_path, real_root, monkeypatch):
    config = _config(real_root, tmp_path / "out")
    run_unfinished(config, monkeypatch)
    index = shard_dir(config) / "test-000000.idx"
    original = index.read_bytes()
    index.write_bytes(original.replace(b" jpg ", b" png ", 1))
    assert run(config).resumed_shards == 0 and index.read_bytes() == original


def test_resume_rewrites_a_shard_whose_image_changed_in_place_with_the_same_size_and_mtime(tmp_path, real_root,
                                                                                          monkeypatch):
    config = _config(real_root, tmp_path / "out")
    run_unfinished(config, monkeypatch)
    tar = shard_dir(config) / "test-000000.tar"
    before = tar.read_bytes()
    image = _images(real_root)[0]
    status = image.stat()
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the entropy-coded data: still a decodable JPEG of the same size
    with open(image, "r+b") as handle:
        handle.write(bytes(data))
    os.utime(image, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (image.stat().st_size, image.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    assert run(config).resumed_shards == 0 and tar.read_bytes() != before
    sources = read_manifest(shard_dir(config), columns=["source_sha256"]).column(0).to_pylist()
    assert hashlib.sha256(bytes(data)).hexdigest() in sources  # the shard was made from the edited image


def test_a_run_past_max_errors_writes_a_dataset_json_that_says_so(tmp_path, real_root):
    _images(real_root)[0].unlink()  # one of four samples rejected: 25 % > 0.1 %
    config = _config(real_root, tmp_path / "out")
    with pytest.raises(TooManyErrors, match="complete: false"):
        run(config)
    out = shard_dir(config)
    dataset = json.loads((out / "dataset.json").read_text())
    assert (dataset["complete"], dataset["error_fraction"], dataset["max_errors"]) == (False, 0.25, 0.001)
    with pytest.raises(IncompleteShardsError, match="did not complete .* --accept-incomplete"):
        build_loader(out, LoaderConfig(backend="reference", augment=False))
    assert len(build_loader(out, LoaderConfig(backend="reference", augment=False, accept_incomplete=True))) == 1
    refused = CliRunner().invoke(main, ["verify", str(out)])
    assert refused.exit_code == 1 and "did not complete" in refused.output
    assert CliRunner().invoke(main, ["verify", str(out), "--accept-incomplete"]).exit_code == 0
    tolerant = _config(real_root, tmp_path / "tolerant", max_errors=0.5)
    run(tolerant)
    dataset = json.loads((shard_dir(tolerant) / "dataset.json").read_text())
    assert (dataset["complete"], dataset["error_fraction"]) == (True, 0.25)
