"""`interhand eval` end to end on synthetic shards: the oracle floor, outputs, determinism, checkpoints, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import EVAL_LOADER, EvalConfig, LaunchConfig, ModelConfig
from interhand.eval.run import run, run_name
from interhand.model import InterNet, save_checkpoint


def _config(shards_root, output, **changes) -> EvalConfig:
    return EvalConfig(**{"shards": str(shards_root), "run_dir": str(output),
                          "loader": replace(EVAL_LOADER, threads=0), "vis": 2, **changes})


def test_the_oracle_scores_the_quantization_floor_a_few_millimetres(synth_ih26m_shards, tmp_path):
    metrics = run(_config(synth_ih26m_shards.parent.parent, tmp_path, oracle=True, split="val", root_source="gt"))
    for group in ("single", "interacting", "all"):
        assert 1.0 < metrics["mpjpe"][group] < 10.0, (group, metrics["mpjpe"])
    assert metrics["mrrpe"] < 10.0 and metrics["handedness_accuracy"] == 1.0
    assert metrics["hand_confusion"] < 0.05 and metrics["counts"]["hand_confusion_joints"] > 0  # hands told apart
    result = tmp_path / "result" / "interhand26m_all_val_gt_oracle"
    predictions = pq.read_table(result / "predictions.parquet")
    assert predictions.num_rows == metrics["counts"]["samples"] == 48
    assert predictions.schema.field("joints_img_px").type.list_size == 42  # the image_relative form
    assert predictions.schema.metadata[b"split"] == b"val" and predictions.schema.metadata[b"root_source"] == b"gt"
    assert pq.read_table(result / "per_sample.parquet").num_rows == 48
    assert "MPJPE for all hand sequences" in (result / "report.txt").read_text()
    assert "Hand confusion (not the original's)" in (result / "report.txt").read_text()
    vis = tmp_path / "vis" / "interhand26m_all_val_gt_oracle"
    assert {p.name for p in vis.iterdir()} == {"per_joint_error.png", "error_by_hand_type.png", "worst.png",
                                              "random.png"}


def test_the_oracle_on_the_real_samples_is_a_few_millimetres_and_its_overlays_are_drawn(real_test_shards, tmp_path):
    metrics = run(_config(real_test_shards.parents[2], tmp_path, oracle=True, split="test", root_source="gt", vis=4))
    assert metrics["counts"]["samples"] == 4 and metrics["counts"]["mrrpe_samples"] == 2
    assert 1.0 < metrics["mpjpe"]["all"] < 5.0 and metrics["mrrpe"] < 5.0 and metrics["handedness_accuracy"] == 1.0
    assert (tmp_path / "vis" / "interhand26m_all_test_gt_oracle" / "worst.png").stat().st_size > 50_000


def test_rootnet_depth_leaves_the_root_aligned_oracle_error_small(synth_ih26m_shards, tmp_path):
    gt = run(_config(synth_ih26m_shards.parent.parent, tmp_path / "gt", oracle=True, split="test", root_source="gt",
                     vis=0))
    rootnet = run(_config(synth_ih26m_shards.parent.parent, tmp_path / "rn", oracle=True, split="test", vis=0))
    # RootNet's ~30 mm depth error only rescales x, y around the wrist: a fraction of a millimetre here.
    assert abs(rootnet["mpjpe"]["all"] - gt["mpjpe"]["all"]) < 1.0


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pth.tar", model, epoch=3)


def test_the_same_checkpoint_and_shards_give_the_same_metrics_file(synth_ih26m_shards, tmp_path, tiny_checkpoint):
    for name in ("a", "b"):
        run(_config(synth_ih26m_shards.parent.parent, tmp_path, checkpoint=str(tiny_checkpoint), run_name=name, vis=0))
    first, second = ((tmp_path / "result" / name / "metrics.json").read_text() for name in ("a", "b"))
    assert first == second and json.loads(first)["mpjpe"]["all"] > 10.0  # an untrained network is far off


def test_test_epoch_finds_the_snapshot_and_names_what_exists_when_missing(synth_ih26m_shards, tmp_path,
                                                                          tiny_checkpoint):
    dump = tmp_path / "model_dump"
    dump.mkdir()
    (dump / "snapshot_3.pth.tar").write_bytes(tiny_checkpoint.read_bytes())
    metrics = run(_config(synth_ih26m_shards.parent.parent, tmp_path, test_epoch=3, vis=0))
    assert metrics["checkpoint"].endswith("snapshot_3.pth.tar")
    result = CliRunner().invoke(main, ["eval", "--shards", str(synth_ih26m_shards.parent.parent), "--output",
                                       str(tmp_path), "--test-epoch", "7"])
    assert result.exit_code == 1 and "snapshot_3.pth.tar" in result.output and "Traceback" not in result.output


def test_an_original_format_snapshot_is_scored_on_stb(synth_stb_shards, tmp_path):
    torch.manual_seed(0)
    model = InterNet(ModelConfig(resnet_type=18))
    original = {"epoch": 19, "network": {f"module.{k}": v for k, v in model.state_dict().items()}, "optimizer": {}}
    torch.save(original, tmp_path / "snapshot_20.pth.tar")
    metrics = run(_config(synth_stb_shards.parent.parent, tmp_path, checkpoint=str(tmp_path / "snapshot_20.pth.tar"),
                          dataset="stb", split="test", vis=1))
    assert metrics["epe"] is not None and metrics["counts"]["samples"] == 6
    assert set(metrics["epe_per_joint"]) >= {"wrist", "thumb4", "pinky1"}


def test_rootnet_depth_on_shards_without_rootnet_outputs_is_one_clear_error(synth_ih26m_root, tmp_path):
    import shutil

    from helpers import make_shards

    data = tmp_path / "InterHand2.6M"
    shutil.copytree(synth_ih26m_root, data, ignore=shutil.ignore_patterns("rootnet_output"))
    make_shards(tmp_path / "shards", data, split="test")
    result = CliRunner().invoke(main, ["eval", "--oracle", "--shards", str(tmp_path / "shards"), "--split", "test",
                                       "--output", str(tmp_path / "out"), "--loader-threads", "0", "--vis", "0"])
    assert result.exit_code == 1 and "no RootNet output" in result.output and "--root-source gt" in result.output


@pytest.mark.slow
def test_two_cpu_processes_score_every_sample_once_and_agree_with_one(synth_ih26m_shards, tmp_path):
    root = synth_ih26m_shards.parent.parent
    one = run(_config(root, tmp_path, oracle=True, run_name="one", vis=0))
    result = CliRunner().invoke(main, ["eval", "--oracle", "--shards", str(root), "--output", str(tmp_path),
                                       "--cpu-processes", "2", "--run-name", "two", "--loader-threads", "0",
                                       "--vis", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.count("MPJPE for all hand sequences") == 1  # rank 0's report, shown once by the CLI
    two = json.loads((tmp_path / "result" / "two" / "metrics.json").read_text())
    assert two["counts"] == one["counts"] and two["mpjpe"] == one["mpjpe"]


def test_eval_on_several_cpu_processes_leaves_no_temporary_config_behind(synth_ih26m_shards, tmp_path, monkeypatch):
    import interhand.eval.launch as eval_launch
    import interhand.runtime.launch as runtime_launch

    seen = []

    def fake_torchrun(command, env):  # the workers would read the config file given last
        seen.append((command[-1], yaml.safe_load(open(command[-1]).read())["launch"]["cpu_processes"]))
        return 0

    monkeypatch.setattr(runtime_launch.subprocess, "call", fake_torchrun)
    config = _config(synth_ih26m_shards.parent.parent, tmp_path, oracle=True, split="val", root_source="gt",
                     launch=LaunchConfig(cpu_processes=2))
    assert eval_launch.launch(config) == (0, tmp_path / "result" / run_name(config, None))
    (path, processes), = seen
    assert processes == 2 and not Path(path).exists() and not Path(path).parent.exists()


def test_each_prediction_is_decoded_once_right_after_the_forward_pass(synth_ih26m_shards, tmp_path, monkeypatch):
    import interhand.eval.run as eval_run

    decoded = []
    for name in ("decode_joints", "decode_rel_root"):
        def counting(values, *args, _decode=getattr(eval_run, name), _name=name):
            decoded.append((_name, len(values)))
            return _decode(values, *args)
        monkeypatch.setattr(eval_run, name, counting)
    metrics = run(_config(synth_ih26m_shards.parent.parent, tmp_path, oracle=True, split="val", root_source="gt",
                          vis=0))
    for name in ("decode_joints", "decode_rel_root"):
        assert sum(count for called, count in decoded if called == name) == metrics["counts"]["samples"] == 48


def test_one_in_process_evaluation_opens_and_checks_its_split_folder_once(synth_ih26m_shards, tmp_path, monkeypatch):
    """dataset.json read, the manifest hashed and scanned for RootNet outputs once each in the whole process:
    the split folder eval opens is the one the loader serves (every module's own binding of each function is
    counted, so a second opening anywhere would show)."""
    import sys

    from interhand.eval.launch import launch

    calls = []
    for name in ("read_dataset_json", "samples_without_rootnet", "file_sha256"):
        for module in [module for key, module in sys.modules.items() if key.startswith("interhand.")]:
            if callable(getattr(module, name, None)):
                def counting(*args, _check=getattr(module, name), _name=name, **kwargs):
                    if _name != "file_sha256" or str(args[0]).endswith("manifest.parquet"):
                        calls.append(_name)
                    return _check(*args, **kwargs)
                monkeypatch.setattr(module, name, counting)
    status, _ = launch(_config(synth_ih26m_shards.parent.parent, tmp_path, oracle=True, split="test",
                               root_source="rootnet", vis=0))
    assert status == 0
    assert sorted(calls) == ["file_sha256", "read_dataset_json", "samples_without_rootnet"]
