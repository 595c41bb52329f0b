"""Failures outside the annotations' values (a full disk, a killed worker, a corrupt resume file, a path that is
not UTF-8, an ambiguous camera file): one line naming the path, no traceback, no partial file left behind."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from interhand.config import PreprocessConfig
from interhand.preprocess.run import run, shard_dir
from interhand.preprocess.sources import SourceError

from helpers import run_unfinished


def _non_utf8_root(tmp_path, real_root, monkeypatch) -> dict:
    root = Path(os.fsdecode(bytes(tmp_path) + b"/InterHand\xff"))
    shutil.copytree(real_root, root)
    return {"data": str(root)}


def _non_utf8_out(tmp_path, real_root, monkeypatch) -> dict:
    return {"shards": os.fsdecode(bytes(tmp_path) + b"/out\xff")}


def _disk_full(tmp_path, real_root, monkeypatch) -> dict:
    """ENOSPC from the tar writes, as a real full disk raises it (no file name: write(2) has none)."""
    from interhand.preprocess import tar_writer

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(tar_writer.TarWriter, "_write", full)
    return {}


def _disk_full_at_finalize(tmp_path, real_root, monkeypatch) -> dict:
    from interhand.preprocess import run as run_module

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "manifest.parquet.tmp")
    monkeypatch.setattr(run_module, "write_tables", full)
    return {}


def _worker_killed(tmp_path, real_root, monkeypatch) -> dict:
    """A shard writer process killed (SIGKILL: the out-of-memory killer) before the shards are written."""
    from interhand.preprocess import run as run_module

    write_jobs = run_module._write_jobs

    def kill_one_then_write(jobs, config, pool):
        os.kill(next(iter(pool._processes)), signal.SIGKILL)
        return write_jobs(jobs, config, pool)
    monkeypatch.setattr(run_module, "_write_jobs", kill_one_then_write)
    return {"workers": 2, "shard_samples": 1}


def _corrupt_fragment(tmp_path, real_root, monkeypatch) -> dict:
    """An unfinished run whose .work manifest fragment was then damaged; the re-run keeps the shard, finalize
    reads it."""
    config = PreprocessConfig(data=str(real_root), split="test", shards=str(tmp_path / "out"), progress=False)
    run_unfinished(config, monkeypatch)
    (fragment,) = (shard_dir(config) / ".work" / "shards").glob("*.manifest.arrow")
    fragment.write_bytes(fragment.read_bytes()[:100])
    return {}


def _corrupt_done_record(tmp_path, real_root, monkeypatch) -> dict:
    config = PreprocessConfig(data=str(real_root), split="test", shards=str(tmp_path / "out"), progress=False)
    run_unfinished(config, monkeypatch)
    (done,) = (shard_dir(config) / ".work" / "shards").glob("*.done.json")
    done.write_text('{"plan_hash": "')  # cut by a crash: the re-run rewrites the shard
    return {"expect_success": True}


def _rootnet_id_not_integer(tmp_path, real_root, monkeypatch) -> dict:
    folder = tmp_path / "InterHand2.6M" / "rootnet_output"
    shutil.copytree(real_root, folder.parent)
    folder.mkdir()
    (folder / "rootnet_interhand2.6m_output_test.json").write_text(
        json.dumps([{"annot_id": 1.5, "bbox": [0, 0, 10, 10], "abs_depth": [900.0, 900.0]}]))
    return {"data": str(folder.parent)}


def _camera_listed_twice(tmp_path, real_root, monkeypatch) -> dict:
    """The camera file with its first capture listed twice (json.dumps cannot write that: pairs by hand)."""
    root = tmp_path / "InterHand2.6M"
    shutil.copytree(real_root, root)
    path = root / "annotations" / "test" / "InterHand2.6M_test_camera.json"
    cameras = json.loads(path.read_text())
    pairs = [next(iter(cameras.items())), *cameras.items()]
    path.write_text("{" + ",".join(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in pairs) + "}")
    return {"data": str(root)}


ONE_LINE_FAILURES = [
    # (case, set-up → PreprocessConfig options, the message expected)
    ("capture listed twice in the camera file", _camera_listed_twice,
     r"InterHand2.6M_test_camera.json: the key '\d+' appears twice in one object"),
    ("root path not UTF-8", _non_utf8_root, r"root '.*InterHand\\udcff' is not a UTF-8 path"),
    ("output folder not UTF-8", _non_utf8_out, r"output folder '.*out\\udcff' is not a UTF-8 path"),
    ("disk full writing a shard", _disk_full, r"the disk is full .* while writing .*/interhand26m/all/test"),
    ("disk full at finalize", _disk_full_at_finalize, r"the disk is full .* while writing manifest.parquet.tmp"),
    ("worker process killed", _worker_killed, r"a worker process of this job died .* re-run to resume"),
    ("corrupt manifest fragment", _corrupt_fragment, r"test-000000.tar.manifest.arrow is corrupt"),
    ("corrupt .done.json", _corrupt_done_record, None),
    ("RootNet annot_id not an integer", _rootnet_id_not_integer, r"rootnet.*entry 0: annot_id 1.5 is not an integer"),
]


@pytest.mark.parametrize("case, set_up, message", ONE_LINE_FAILURES, ids=[row[0] for row in ONE_LINE_FAILURES])
def test_each_failure_outside_the_values_is_one_line_naming_where(case, set_up, message, tmp_path, real_ih26m_root,
                                                                   monkeypatch):
    from interhand.preprocess.run import WriteFailed

    options = dict(data=str(real_ih26m_root), split="test", shards=str(tmp_path / "out"), progress=False)
    changes = set_up(tmp_path, real_ih26m_root, monkeypatch)
    expect_success = changes.pop("expect_success", False)
    config = PreprocessConfig(**{**options, **changes})
    if expect_success:
        assert run(config).samples == 4
        return
    with pytest.raises((SourceError, WriteFailed)) as raised:
        run(config)
    assert re.search(message, str(raised.value)) and "\n" not in str(raised.value), str(raised.value)
    out = Path(config.shards)
    left = [path.name for path in out.rglob("*") if path.name.endswith(".tmp") or ".spill" in path.name] \
        if out.is_dir() else []
    assert not left  # no partial tar, index or spill file survives the failure


# A link planted in the split folder (or its .work/) under the name of a file the job creates; before #28 the job
# wrote through it (542,720 bytes of tar outside). Now the job refuses it in one line, or, where the name is one the
# job clears before writing (stale temporary files, a finished folder's SHA256SUMS), removes the link (never its
# target) and finishes; either way nothing outside changes.
PLANTED_LINKS = [("test-000000.tar.tmp", "refused"), ("test-000000.tar", "refused"), ("test-000000.idx.tmp", "refused"),
                 (".work/part-0-of-1.spill0", "refused"), (".work/lock", "refused"),
                 (".work/part-0-of-1.json.tmp", "refused"), ("manifest.parquet.tmp", "removed"),
                 ("dataset.json.tmp", "removed"), ("SHA256SUMS", "removed")]


@pytest.mark.parametrize("planted, outcome", PLANTED_LINKS, ids=[row[0] for row in PLANTED_LINKS])
def test_a_link_planted_at_a_name_the_job_writes_never_leads_outside(planted, outcome, tmp_path, real_ih26m_root):
    from interhand.preprocess.run import WriteFailed

    config = PreprocessConfig(data=str(real_ih26m_root), split="test", shards=str(tmp_path / "out"), progress=False)
    target = tmp_path / "outside" / "precious.bin"
    target.parent.mkdir()
    target.write_bytes(b"not yours")
    link = shard_dir(config) / planted
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    outside = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file() and "out" not in path.parts}
    if outcome == "refused":
        with pytest.raises(WriteFailed) as raised:
            run(config)
        assert f"{link} is a symbolic link: refused" in str(raised.value) and "\n" not in str(raised.value), \
            str(raised.value)
    else:
        assert run(config).samples == 4 and not link.is_symlink()
    assert target.read_bytes() == b"not yours"
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file() and "out" not in path.parts} \
        == outside
    assert not [path for path in shard_dir(config).rglob("*") if path.is_symlink() and path != link]


@pytest.mark.parametrize("planted", [".work", ".work/shards"])
def test_a_link_planted_as_the_jobs_work_folder_is_refused_never_followed(planted, tmp_path, real_ih26m_root):
    from interhand.preprocess.run import WriteFailed

    config = PreprocessConfig(data=str(real_ih26m_root), split="test", shards=str(tmp_path / "out"), progress=False)
    elsewhere = tmp_path / "outside"
    elsewhere.mkdir()
    link = shard_dir(config) / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(WriteFailed) as raised:
        run(config)
    assert f"{link} is a symbolic link: refused" in str(raised.value) and "\n" not in str(raised.value)
    assert not any(elsewhere.iterdir())


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path, real_ih26m_root, monkeypatch):
    from click.testing import CliRunner

    from interhand.cli import main

    _disk_full(tmp_path, real_ih26m_root, monkeypatch)
    result = CliRunner().invoke(main, ["shards", "--root", str(real_ih26m_root), "--split", "test", "--out",
                                       str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output and len(result.output.splitlines()) == 1
    assert result.output.startswith("Error: the disk is full")


def test_a_script_without_a_main_guard_is_told_what_killed_its_workers(tmp_path, real_ih26m_root):
    """The writer processes start from the forkserver, which re-imports the calling script: without the guard
    the script runs again in them and they die. The one line says so, instead of only "killed, or out of memory"."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("from interhand.config import PreprocessConfig\n"
                      "from interhand.preprocess.run import run\n"
                      f"run(PreprocessConfig(data={str(real_ih26m_root)!r}, split='test', "
                      f"shards={str(tmp_path / 'out')!r}, "
                      "workers=2, progress=False))\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode != 0
    assert 'needs an `if __name__ == "__main__":` guard' in result.stderr.splitlines()[-1], result.stderr[-2000:]
