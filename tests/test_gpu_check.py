"""`make gpu-check` cannot run here (no GPU): its CPU dry run goes through every step on a tiny set, so the
script, its data preparation and its report work the first time a GPU machine runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
DEVICE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check_device.sh"


@pytest.mark.slow
def test_gpu_check_dry_run_prepares_runs_every_step_and_fails_where_the_gpu_tests_are_skipped(tmp_path):
    """Through the script the GPU machine runs (scripts/gpu_check_device.sh: extensions, data, check), with this
    machine's DALI instead of the carried parts (tests/test_gpu_parts.py installs those)."""
    data, work, out = tmp_path / "data", tmp_path / "work", tmp_path / "out"
    environment = {**os.environ, "PYTHON": sys.executable, "DATA": str(data), "WORK": str(work)}
    result = subprocess.run(["bash", str(DEVICE_SCRIPT), str(out), "--dry-run", "--skip-parts"], env=environment,
                            capture_output=True, text=True)
    assert json.loads((data / "prepared.json").read_text())["samples"] == {"train": 16, "val": 16}
    report = json.loads(result.stdout.strip().splitlines()[-1])
    out = work / "check"
    assert report == json.loads((out / "gpu_check.json").read_text())
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["gpu_check.json", "gpu_check.txt",
                                                                           "train_loss.png"]  # what comes back
    # The GPU tests were skipped (no GPU here): that proves nothing, so the check fails, saying why.
    assert result.returncode == 1 and report["ok"] is False
    assert not report["pytest_gpu"]["ok"] and "skipped" in report["pytest_gpu"]["reason"]
    assert report["pytest_gpu"]["counts"].get("deselected", 0) > 0  # only the gpu-marked tests were selected
    assert report["pytest_gpu"]["parity"] == {}  # the GPU tests skip on the CPU: no GPU-vs-CPU figures
    assert [report[step]["ok"] for step in ("preflight", "loader", "train", "eval", "mean_pose")] == [True] * 5, report
    assert report["preflight"]["found"]["cuda_available"] is False and "torch" in report["preflight"]["found"]
    assert "profile_us" not in report["loader"]["figures"]  # no CPU profiling on the GPU machine
    assert len(report["train"]["loss_curve"]) == 3 and report["train"]["images_per_s"] > 0
    assert report["train"]["steps"] == 3
    assert report["eval"]["metrics"]["counts"]["samples"] == 16
    # the learning run is scored against the trivial baseline, and its loss curve drawn
    assert (report["mean_pose"]["ok"]
            and report["mean_pose"]["metrics"]["checkpoint"].startswith("mean-pose baseline")), report["mean_pose"]
    learning = report["learning"]
    assert learning["ratio_to_mean_pose"] == round(learning["val_mpjpe_mm"] / learning["mean_pose_mpjpe_mm"], 3)
    assert (out / learning["loss_png"]).stat().st_size > 0
    assert "--config" in report["train"]["command"] and "gpu_learn.yaml" in report["train"]["command"]
    assert report["goals_met"]["dali_mixed_baseline_images_per_s"] is None  # a dry run measures no goal
    table = (out / "gpu_check.txt").read_text()
    assert table.startswith("GPU check (CPU dry run): no GPU seen") and "torch" in table
    assert (out / "train.out").stat().st_size > 0 and (out / "train.err").exists()  # both outputs kept


def _gpu_check_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return gpu_check


def test_a_step_past_its_limit_is_killed_with_everything_it_started(tmp_path):
    """torchrun's workers outlive a killed torchrun: the step's whole process group goes, its output kept."""
    import time

    gpu_check = _gpu_check_module()
    spawner = ("import subprocess, sys, time; child = subprocess.Popen(['sleep', '60']); print(child.pid, flush=True); "
               "print('working', file=sys.stderr, flush=True); time.sleep(60)")
    started = time.perf_counter()
    step = gpu_check._step("slow", [sys.executable, "-c", spawner], tmp_path, limit=2)
    assert time.perf_counter() - started < 20 and not step["ok"] and step["exit_code"] is None
    assert "killed at its limit of 2 s" in step["errors"] and "working" in step["errors"]
    child = Path(f"/proc/{int(step['output'].splitlines()[-1])}/stat")
    time.sleep(0.2)  # gone, or a zombie that nobody reaps yet (state Z): not running either way
    assert not child.exists() or child.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_the_report_is_written_after_every_step(tmp_path, monkeypatch):
    """A check cut short (here: the third step never returns) keeps what the earlier steps measured."""
    gpu_check = _gpu_check_module()
    data = tmp_path / "data"
    data.mkdir()
    (data / "prepared.json").write_text(json.dumps({"frames": 4, "dry_run": True, "samples": {}}))
    calls = []

    def fake_step(name, command, out, limit, env=None):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt("cut short")
        output = json.dumps({"cuda_available": False, "dali_gpus": 0, "torch": "x"}) if name == "preflight" else \
            "1 passed, 2 skipped, 5 deselected in 1.0s"
        return {"ok": True, "exit_code": 0, "seconds": 1.0, "output": output, "errors": "", "tail": []}

    monkeypatch.setattr(gpu_check, "_step", fake_step)
    with pytest.raises(KeyboardInterrupt):
        gpu_check.run(data, tmp_path / "out", dry_run=True)
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert set(report) >= {"preflight", "pytest_gpu"} and "loader" not in report
    assert report["pytest_gpu"]["ok"] is False  # exit 0 with skipped GPU tests is not a pass
    assert "pytest -m gpu" in (tmp_path / "out" / "gpu_check.txt").read_text()


def test_without_a_gpu_the_real_check_stops_at_the_preflight(tmp_path):
    """Not a dry run, on a machine where torch or DALI sees no GPU: one failed preflight, no step run."""
    gpu_check = _gpu_check_module()
    data = tmp_path / "data"
    data.mkdir()
    (data / "prepared.json").write_text(json.dumps({"frames": 4, "dry_run": False, "samples": {}}))
    import torch

    import interhand.loaders.dali_pipeline as dali_pipeline

    if torch.cuda.is_available() and dali_pipeline.cuda_device_count():
        pytest.skip("this machine has a GPU that torch and DALI see: the preflight passes")
    report = gpu_check.run(data, tmp_path / "out", dry_run=False)
    assert not report["preflight"]["ok"] and "torch sees a GPU: False" in report["preflight"]["reason"]
    assert "pytest_gpu" not in report and not report.get("ok")
