"""The over-fit check: trained on 16 frames without augmentation, InterNet must memorise them, far below the
mean-pose baseline scored on the same frames (`configs/overfit.yaml`; docs/experiments/2026-12-01-overfit.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import SynthConfig
from interhand.synth.run import run as synth_run

from helpers import make_shards

CONFIG = Path(__file__).parents[2] / "configs" / "overfit.yaml"


@pytest.mark.slow
def test_internet_memorises_16_frames_far_below_the_mean_pose_baseline(tmp_path):
    root = tmp_path / "InterHand2.6M"
    synth_run(SynthConfig(frames=8, captures=1, cameras=2, seed=1), root, show_progress=False)
    make_shards(tmp_path / "shards", root, split="train", shard_samples=64)
    runner = CliRunner()
    shards, output = str(tmp_path / "shards"), str(tmp_path / "run")
    trained = runner.invoke(main, ["train", "--config", str(CONFIG), "--shards", shards, "--run-dir", output])
    assert trained.exit_code == 0, trained.output
    scores = {}
    for name, extra in (("trained", []), ("mean_pose", ["--baseline", "mean-pose"])):
        result = runner.invoke(main, ["eval", "--shards", shards, "--run-dir", output, "--split", "train",
                                      "--root-source", "gt", "--vis", "0", "--workers", "0", "--run-name", name,
                                      *extra])
        assert result.exit_code == 0, result.output
        scores[name] = (tmp_path / "run" / "result" / name / "metrics.json").read_text()
    import json

    trained_metrics, baseline = json.loads(scores["trained"]), json.loads(scores["mean_pose"])
    assert trained_metrics["counts"]["samples"] == 16
    # The honest bound for 100 CPU steps at 16³ (a depth bin is 25 mm; docs/experiments/2026-12-01-overfit.md): under
    # half the mean pose's error.
    assert trained_metrics["mpjpe"]["all"] < 0.5 * baseline["mpjpe"]["all"], (trained_metrics["mpjpe"],
                                                                             baseline["mpjpe"])
    assert trained_metrics["handedness_accuracy"] == 1.0
