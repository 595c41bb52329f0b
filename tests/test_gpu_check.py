"""`make gpu-check` cannot run here (no GPU): its CPU dry run goes through every step on a tiny set, so the
script, its data preparation and its report work the first time a GPU machine runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_dry_run_prepares_runs_every_step_and_reports(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    subprocess.run([sys.executable, str(SCRIPT), "prepare", "--data", str(data), "--dry-run"], check=True,
                   capture_output=True, text=True)
    assert json.loads((data / "prepared.json").read_text())["samples"] == {"train": 16, "val": 16}
    result = subprocess.run([sys.executable, str(SCRIPT), "run", "--data", str(data), "--out", str(out), "--dry-run"],
                            check=True, capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == json.loads((out / "gpu_check.json").read_text())
    assert [report[step]["ok"] for step in ("pytest_gpu", "loader", "train", "eval")] == [True] * 4, report
    assert report["pytest_gpu"]["counts"].get("deselected", 0) > 0  # only the gpu-marked tests were selected
    assert report["pytest_gpu"]["parity"] == {}  # the GPU tests skip on the CPU: no GPU-vs-CPU figures
    assert set(report["loader"]["figures"]["profile_us"]) == {"baseline", "source"}
    assert len(report["train"]["loss_curve"]) == 3 and report["train"]["images_per_s"] > 0
    assert report["eval"]["metrics"]["counts"]["samples"] == 16
    # the learning run is scored against the trivial baseline, and its loss curve drawn
    assert report["mean_pose"]["ok"] and report["mean_pose"]["metrics"]["checkpoint"].startswith("mean-pose baseline"), report["mean_pose"]
    learning = report["learning"]
    assert learning["ratio_to_mean_pose"] == round(learning["val_mpjpe_mm"] / learning["mean_pose_mpjpe_mm"], 3)
    assert (out / learning["loss_png"]).stat().st_size > 0
    assert "--config" in report["train"]["command"] and "gpu_learn.yaml" in report["train"]["command"]
    assert report["goals_met"]["dali_mixed_baseline_images_per_s"] is None  # no GPU here: not measured
    assert (out / "gpu_check.txt").read_text().startswith("GPU check (CPU dry run)")
