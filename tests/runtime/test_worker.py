"""The one torchrun entry point: it reads a job's config file and runs the job in this process."""

from __future__ import annotations

import json
from dataclasses import replace

import yaml

from interhand.config import EVAL_LOADER, EvalConfig, config_to_dict
from interhand.eval.run import run
from interhand.runtime.worker import main


def test_the_worker_refuses_an_unknown_job_with_its_usage(tmp_path, capsys):
    assert main(["interhand.cli", str(tmp_path / "c.yaml")]) == 2
    assert main(["interhand.eval.run"]) == 2
    assert "usage: python -m interhand.runtime.worker" in capsys.readouterr().err


def test_the_worker_runs_an_evaluation_from_its_config_file(synth_ih26m_shards, tmp_path):
    config = EvalConfig(shards=str(synth_ih26m_shards.parent.parent), run_dir=str(tmp_path), oracle=True, split="val",
                        root_source="gt", loader=replace(EVAL_LOADER, threads=0), vis=0, run_name="worker")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    assert main(["interhand.eval.run", str(path)]) == 0
    metrics = json.loads((tmp_path / "result" / "worker" / "metrics.json").read_text())
    direct = run(replace(config, run_name="direct"))  # the same job in this process, without the worker
    assert metrics["counts"] == direct["counts"] and metrics["counts"]["samples"] == 48
    assert metrics["mpjpe"] == direct["mpjpe"] and 0 < metrics["mpjpe"]["all"] < 10  # the oracle: the encoding's floor
