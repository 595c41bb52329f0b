"""Training: --gpu parsing, resume equals an uninterrupted run, DDP on the CPU lowers the loss, clear errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import LoaderConfig, ModelConfig, TrainConfig, config_to_dict
from interhand.loaders.shard_list import shard_list
from interhand.runtime.gpus import check_gpus_exist, parse_gpus
from interhand.train.checkpoint import latest_snapshot, save_snapshot
from interhand.train.log import read_log
from interhand.train.run import run

# A small network on 64-px patches (16³ heatmaps) keeps CPU training to seconds; the code path is the full one.
TINY_MODEL = ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)


def _config(split_shards: Path, output: Path, **changes) -> TrainConfig:
    """A tiny run on SHARDS/<dataset>/<subset>/train (`split_shards`)."""
    base = TrainConfig(shards=str(split_shards.parent.parent.parent), run_dir=str(output), epochs=2, steps_per_epoch=3,
                       log_every=1, model=TINY_MODEL, loader=LoaderConfig(batch_size=4, threads=0, shuffle_buffer=8))
    return replace(base, **changes)


@pytest.mark.parametrize("text, expected", [("0-3", [0, 1, 2, 3]), ("0,1,2,3", [0, 1, 2, 3]), ("2", [2]),
                                            ("0-1,4", [0, 1, 4]), (" 1 - 2 ", [1, 2])])
def test_gpu_lists_accept_ranges_and_commas(text, expected):
    assert parse_gpus(text) == expected


@pytest.mark.parametrize("text", ["", "a-b", "3-1", "0,0", "-1"])
def test_bad_gpu_lists_are_rejected_with_the_text(text):
    with pytest.raises(ValueError, match="--gpu"):
        parse_gpus(text)


def test_listing_gpus_the_machine_lacks_is_an_error_naming_them():
    with pytest.raises(ValueError, match=r"\[2, 3\].*GPUs 0-1"):
        check_gpus_exist([0, 1, 2, 3], 2)
    with pytest.raises(ValueError, match="no GPU"):
        check_gpus_exist([0], 0)


def test_gpu_indices_pick_from_an_inherited_cuda_visible_devices():
    from interhand.runtime.gpus import visible_devices

    assert visible_devices([0, 1], None) == "0,1"
    assert visible_devices([1], "4,5") == "5"  # a scheduler gave this job GPUs 4 and 5: --gpu 1 is GPU 5
    assert visible_devices([0, 1], "MIG-aaaa, MIG-bbbb") == "MIG-aaaa,MIG-bbbb"
    with pytest.raises(ValueError, match=r"\[1\].*GPUs 0-0 \(CUDA_VISIBLE_DEVICES='GPU-1234'\)"):
        visible_devices([0, 1], "GPU-1234")


def test_torchrun_is_standalone_on_one_node_and_rendezvous_on_several():
    from interhand.config import LaunchConfig
    from interhand.runtime.launch import torchrun_command

    single = torchrun_command(4, "interhand.runtime.worker", "c.yaml", LaunchConfig(), "interhand.train.run")
    assert "--standalone" in single and "--nproc_per_node=4" in single
    assert single[-4:] == ["-m", "interhand.runtime.worker", "interhand.train.run", "c.yaml"]
    several = torchrun_command(8, "interhand.runtime.worker", "c.yaml",
                               LaunchConfig(nnodes=2, node_rank=1, master_addr="host0", master_port=29400))
    assert {"--nnodes=2", "--node_rank=1", "--master_addr=host0", "--master_port=29400"} <= set(several)


def test_lr_follows_the_original_step_schedule():
    config = TrainConfig()
    assert ([config.lr_at(epoch) for epoch in (0, 14, 15, 16, 17, 19)]
            == pytest.approx([1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6]))
    assert TrainConfig(dataset="rhd").total_epochs == 50 and TrainConfig(dataset="stb").lr_decay_epochs == (45, 47)
    assert TrainConfig(lr_dec_epochs="3, 5").lr_decay_epochs == (3, 5)
    assert config_to_dict(TrainConfig(lr_dec_epochs="3,5"))["lr_dec_epochs"] == "3,5"  # the file face keeps the text
    with pytest.raises(ValueError, match="lr_dec_epochs='3,x'"):
        TrainConfig(lr_dec_epochs="3,x")


def _step_losses(run_dir: Path) -> dict[int, dict]:
    return {entry["global_step"]: entry for entry in read_log(run_dir) if entry["kind"] == "step"}


def test_a_run_stopped_after_an_epoch_and_continued_gives_the_same_losses(synth_ih26m_shards, tmp_path):
    shards = synth_ih26m_shards / "train"
    run(_config(shards, tmp_path / "straight"))
    run(_config(shards, tmp_path / "resumed", epochs=1))
    assert latest_snapshot(tmp_path / "resumed" / "model_dump").name == "snapshot_0.pth.tar"
    run(_config(shards, tmp_path / "resumed", continue_train=True))
    straight, resumed = _step_losses(tmp_path / "straight"), _step_losses(tmp_path / "resumed")
    assert sorted(straight) == sorted(resumed) == list(range(1, 7))
    for step in straight:
        for term in ("loss_joint_heatmap", "loss_rel_root_depth", "loss_hand_type"):
            assert resumed[step][term] == pytest.approx(straight[step][term], rel=1e-5), (step, term)
    snapshot = torch.load(tmp_path / "resumed" / "model_dump" / "snapshot_1.pth.tar", weights_only=True)
    assert snapshot["epoch"] == 1 and all(key.startswith("module.") for key in snapshot["network"])
    assert snapshot["train_config"]["model"]["resnet_type"] == 18 and "optimizer" in snapshot


def test_a_run_killed_mid_epoch_and_continued_gives_the_same_losses(synth_ih26m_shards, tmp_path, monkeypatch):
    import interhand.train.run as train_run

    shards = synth_ih26m_shards / "train"
    one_epoch = {"epochs": 1, "steps_per_epoch": 4, "snapshot_every": 2}  # few ~250 MB snapshots
    run(_config(shards, tmp_path / "straight", **one_epoch))
    # Once the epoch's snapshot exists, its mid-epoch ones are removed.
    assert sorted(path.name for path in (tmp_path / "straight" / "model_dump").iterdir()) == ["snapshot_0.pth.tar"]

    def save_then_die(path, *args, **kwargs):  # killed right after the snapshot of iteration 2
        save_snapshot(path, *args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(train_run, "save_snapshot", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(_config(shards, tmp_path / "killed", **one_epoch))
    monkeypatch.undo()
    assert [path.name for path in (tmp_path / "killed" / "model_dump").iterdir()] == ["snapshot_0_iter2.pth.tar"]
    run(_config(shards, tmp_path / "killed", continue_train=True, **one_epoch))
    straight, resumed = _step_losses(tmp_path / "straight"), _step_losses(tmp_path / "killed")
    # 1-2 before the kill, 3-4 after the resume: no step done twice.
    assert [entry["global_step"] for entry in read_log(tmp_path / "killed") if entry["kind"] == "step"] == [1, 2, 3, 4]
    for step in resumed:
        for term in ("loss_joint_heatmap", "loss_rel_root_depth", "loss_hand_type"):
            assert resumed[step][term] == pytest.approx(straight[step][term], rel=1e-5), (step, term)


def test_resolved_config_is_saved_and_a_config_file_is_overridden_by_flags(synth_ih26m_shards, tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(json.dumps({"epochs": 1, "steps_per_epoch": 1, "lr": 0.5,
                                       "model": {"resnet_type": 18, "input_size": 64, "heatmap_size": 16},
                                       "loader": {"batch_size": 2, "threads": 0}}))
    output = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--config", str(config_file), "--lr", "0.001", "--output", str(output),
                                       "--shards", str(synth_ih26m_shards.parent.parent)])
    assert result.exit_code == 0, result.output
    saved = (output / "config.yaml").read_text()
    assert "lr: 0.001" in saved and "resnet_type: 18" in saved and "batch_size: 2" in saved
    assert (output / "model_dump" / "snapshot_0.pth.tar").exists()


def test_continuing_with_another_architecture_is_refused_naming_the_field(synth_ih26m_shards, tmp_path):
    shards = synth_ih26m_shards / "train"
    run(_config(shards, tmp_path / "run", epochs=1, steps_per_epoch=1))
    with pytest.raises(ValueError, match="resnet_type: snapshot 18 vs run 34"):
        run(_config(shards, tmp_path / "run", continue_train=True, model=replace(TINY_MODEL, resnet_type=34)))


def test_snapshot_epochs_writes_every_nth_epoch_and_the_last(synth_ih26m_shards, tmp_path):
    run(_config(synth_ih26m_shards / "train", tmp_path / "run", epochs=3, steps_per_epoch=1, snapshot_epochs=2))
    assert sorted(p.name for p in (tmp_path / "run" / "model_dump").iterdir()) == ["snapshot_1.pth.tar",
                                                                                   "snapshot_2.pth.tar"]


def test_training_without_shards_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["train", "--shards", str(tmp_path / "nowhere"),
                                       "--run-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nowhere does not exist" in result.output and "Traceback" not in result.output


def test_training_on_rootnet_boxes_the_train_split_lacks_is_one_clear_error(synth_ih26m_shards, tmp_path):
    result = CliRunner().invoke(main, ["train", "--loader-box", "rootnet",
                                       "--shards", str(synth_ih26m_shards.parent.parent),
                                       "--run-dir", str(tmp_path / "o"), "--model-resnet-type", "18"])
    assert result.exit_code == 1 and "have no RootNet box" in result.output and "--loader-box gt" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_asking_for_a_gpu_on_a_machine_without_one_is_one_clear_error(synth_ih26m_shards, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # as here, on a GPU host too
    result = CliRunner().invoke(main, ["train", "--gpu", "0-3", "--shards", str(synth_ih26m_shards.parent.parent),
                                       "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no GPU" in result.output


def test_plot_log_draws_the_loss_curves(synth_ih26m_shards, tmp_path):
    run(_config(synth_ih26m_shards / "train", tmp_path / "run", epochs=1))
    result = CliRunner().invoke(main, ["plot-log", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "vis" / "train_loss.png").stat().st_size > 10_000


@pytest.mark.slow
def test_two_process_cpu_ddp_training_lowers_the_loss_well_below_its_start(synth_ih26m_shards, tmp_path):
    output = tmp_path / "ddp"
    result = CliRunner().invoke(main, [
        "train", "--shards", str(synth_ih26m_shards.parent.parent), "--output", str(output), "--cpu-processes", "2",
        "--epochs", "20", "--log-every", "1", "--lr", "3e-3", "--model-resnet-type", "18", "--model-input-size", "64",
        "--model-heatmap-size", "16", "--loader-batch-size", "4", "--loader-workers", "0", "--keep-snapshots", "2"])
    assert result.exit_code == 0, result.output
    steps = [entry for entry in read_log(output) if entry["kind"] == "step"]
    share = shard_list(synth_ih26m_shards / "train").total // 2
    assert len(steps) == 20 * -(-share // 4)  # each rank reads half the split, 4 samples a batch
    start = sum(entry["loss_joint_heatmap"] for entry in steps[:3]) / 3
    end = sum(entry["loss_joint_heatmap"] for entry in steps[-12:]) / 12  # the last two epochs
    assert end < 0.75 * start, (start, end)
    epochs = [entry for entry in read_log(output) if entry["kind"] == "epoch"]
    assert len(epochs) == 20
    assert sorted(path.name for path in (output / "model_dump").iterdir()) == ["snapshot_18.pth.tar",
                                                                                "snapshot_19.pth.tar"]


def test_continue_passes_over_an_empty_and_a_truncated_newest_snapshot_naming_them(synth_ih26m_shards, tmp_path,
                                                                                  caplog):
    shards, output = synth_ih26m_shards / "train", tmp_path / "run"
    run(_config(shards, output, epochs=1, steps_per_epoch=1))
    model_dump = output / "model_dump"
    good = (model_dump / "snapshot_0.pth.tar").read_bytes()
    (model_dump / "snapshot_1_iter1.pth.tar").write_bytes(b"")  # killed while the disk was full
    (model_dump / "snapshot_1_iter2.pth.tar").write_bytes(good[:len(good) // 2])  # a copy cut short
    run(_config(shards, output, steps_per_epoch=1, continue_train=True))
    said = " ".join(record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert "snapshot_1_iter2.pth.tar: unreadable checkpoint" in said and "truncated or corrupt" in said
    assert "snapshot_1_iter1.pth.tar: unreadable checkpoint (empty" in said and "falling back" in said
    assert "resumed from" in (output / "log" / "train_logs.txt").read_text()
    assert [entry["epoch"] for entry in read_log(output) if entry["kind"] == "epoch"] == [0, 1]
    for path in model_dump.iterdir():
        path.write_bytes(b"")
    with pytest.raises(ValueError, match="none of the 2 snapshots in .* loads: .*snapshot_1.pth.tar: unreadable"):
        run(_config(shards, output, epochs=3, steps_per_epoch=1, continue_train=True))


def test_a_checkpoint_holding_code_bearing_objects_is_one_line_and_not_loaded(tmp_path):
    from pathlib import PurePosixPath

    from interhand.model.original_checkpoint import CheckpointUnreadable, load_checkpoint

    path = tmp_path / "crafted.pth.tar"
    torch.save({"network": {}, "payload": PurePosixPath("/not/allowed")}, path)  # no tensor, not an allowed type
    with pytest.raises(CheckpointUnreadable, match="crafted.pth.tar: not loaded: it holds code-bearing objects"):
        load_checkpoint(path)
    image = Path(__file__).parents[1] / "data" / "interhand26m_real" / "image2017.jpg"
    result = CliRunner().invoke(main, ["predict", "--checkpoint", str(path), "--image", str(image), "--bbox",
                                       "10,10,100,100", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "code-bearing" in result.output and len(result.output.splitlines()) == 1


def test_steps_redone_after_continue_are_logged_once(synth_ih26m_shards, tmp_path, monkeypatch):
    from interhand.train.log import RunLog

    shards = synth_ih26m_shards / "train"
    one_epoch = {"epochs": 1, "steps_per_epoch": 4, "snapshot_every": 2}
    record = RunLog.record

    def record_then_die(self, kind, **values):  # killed after step 3 was logged, its last snapshot at step 2
        record(self, kind, **values)
        if values.get("global_step") == 3:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(RunLog, "record", record_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(_config(shards, tmp_path / "killed", **one_epoch))
    monkeypatch.undo()
    run(_config(shards, tmp_path / "killed", continue_train=True, **one_epoch))
    kinds = [(entry["kind"], entry.get("global_step", entry.get("epoch"))) for entry in read_log(tmp_path / "killed")]
    assert kinds == [("step", 1), ("step", 2), ("step", 3), ("step", 4), ("epoch", 0)]


def test_a_second_training_job_on_a_run_folder_in_use_is_one_line_and_writes_nothing(synth_ih26m_shards, tmp_path):
    """`train --continue` beside a running `train` on the same --run-dir used to run to rc 0, both writing the same
    snapshots and log lines: the first job's lock refuses the second before it writes anything."""
    from interhand.runtime.folder_lock import run_folder_lock

    run_dir = tmp_path / "run"
    with run_folder_lock(run_dir, "train"):  # a training job is running there
        result = CliRunner().invoke(main, ["train", "--continue", "--shards", str(synth_ih26m_shards.parent.parent),
                                           "--run-dir", str(run_dir), "--model-resnet-type", "18"])
    assert result.exit_code == 1 and "in use by another `interhand train`" in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(path.name for path in run_dir.iterdir()) == [".lock"]  # no config.yaml, log or snapshot
