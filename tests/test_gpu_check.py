"""`make gpu-check` cannot run here (no GPU): its CPU dry run goes through every step on a tiny set, DALI carried
and installed from its parts as it would be there, so the scripts, the install, the data preparation and the report
work the first time a GPU machine runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"
DEVICE_SCRIPT = ROOT / "scripts" / "gpu_check_device.sh"
PARTS_SCRIPT = ROOT / "scripts" / "gpu_parts.py"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.slow
def test_the_dry_run_carries_dali_in_parts_installs_it_and_fails_where_the_gpu_tests_are_skipped(tmp_path):
    """The whole attempt as the GPU machine would run it, on the CPU twins: the real DALI wheels for this Python
    packed into parts (xz at a fast preset: the same stored, pruned wheels, only the ratio differs), parts 1..n-1
    received as the first device commands do, then the last command itself (scripts/gpu_check_device.sh: receive
    part n, join, `pip install --no-index --no-deps --target`, import, a CPU pipeline, the C extensions, the data,
    the check), with DALI imported from that install, not from this venv."""
    parts, stash, target = tmp_path / "parts", tmp_path / "stash", tmp_path / "target"
    data, work, out = tmp_path / "data", tmp_path / "work", tmp_path / "out"
    prepared = _parts_script("prepare", "--out", parts, "--python-version", PYTHON_VERSION, "--xz-preset", "0",
                             cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    manifest = json.loads((parts / "manifest.json").read_text())
    assert len(manifest["parts"]) >= 3 and all(part["size"] <= 60 * 2**20 for part in manifest["parts"])
    for number in range(1, len(manifest["parts"])):
        received = _parts_script("receive", number, "--parts-dir", parts, "--stash", stash, cwd=tmp_path)
        assert received.returncode == 0, received.stdout + received.stderr
    environment = {**os.environ, "PYTHON": sys.executable, "DATA": str(data), "WORK": str(work),
                   "PARTS_DIR": str(parts), "STASH": str(stash), "TARGET": str(target)}
    result = subprocess.run(["bash", str(DEVICE_SCRIPT), str(out), "--dry-run"], env=environment, cwd=ROOT,
                            capture_output=True, text=True)
    install = json.loads((out / "dali_install.json").read_text().strip().splitlines()[-1])
    assert install["dali"] == "2.4.0" and install["decoded_shapes"] == [[48, 64, 3]] * 4, install
    assert install["nvidia_outside"] == []  # nothing of NVIDIA's from this venv's own (CUDA 12) DALI
    assert "wheel" not in install["host_modules"]  # astunparse names it; nothing imports it
    assert json.loads((data / "prepared.json").read_text())["samples"] == {"train": 16, "val": 16}
    report = json.loads(result.stdout.strip().splitlines()[-1])
    check = work / "check"
    assert report == json.loads((check / "gpu_check.json").read_text())
    assert sorted(path.name for path in out.iterdir()) == ["dali_install.json", "gpu_check.json", "gpu_check.txt",
                                                          "train_loss.png"]  # what comes back
    assert Path(report["preflight"]["found"]["dali_from"]).is_relative_to(target), report["preflight"]
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
    assert (check / learning["loss_png"]).stat().st_size > 0
    assert "--config" in report["train"]["command"] and "gpu_learn.yaml" in report["train"]["command"]
    assert report["goals_met"]["dali_mixed_baseline_images_per_s"] is None  # a dry run measures no goal
    table = (check / "gpu_check.txt").read_text()
    assert table.startswith("GPU check (CPU dry run): no GPU seen") and "torch" in table
    assert (check / "train.out").stat().st_size > 0 and (check / "train.err").exists()  # both outputs kept


def _parts_script(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PARTS_SCRIPT), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)


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
