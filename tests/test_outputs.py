"""Outputs never leave their folder, and a write that fails is one line (issue #28): per command, a full disk
(writes to /dev/full), a read-only folder (EROFS at creation) and a symbolic link planted at an output's name, each
checked for its exit code, one `Error:` line naming the file (and the free space), no traceback, and nothing
changed outside the output folder (a link's target keeps its bytes)."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from interhand import outputs
from interhand.cli import main
from interhand.config import ModelConfig
from interhand.model import InterNet, save_checkpoint

_TINY = ["--model-resnet-type", "18", "--model-input-size", "64", "--model-heatmap-size", "16"]


def _tree(*folders: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every file and link under `folders` (but not under `skip`): its kind and bytes."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if skip is not None and (path == skip or skip in path.parents):
                continue
            if path.is_symlink():
                found[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                found[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _fault(monkeypatch, name: str, kind: str) -> None:
    """Files whose name starts with `name` (their temporary names too): written to /dev/full ("full": ENOSPC on
    write, as a full disk) or refused at creation ("read-only": EROFS)."""
    real_open = outputs._os_open

    def faulty_open(path, flags, mode=0o777):
        if not Path(path).name.startswith(name):
            return real_open(path, flags, mode)
        if kind == "full":
            return real_open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
    monkeypatch.setattr(outputs, "_os_open", faulty_open)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pth.tar",
                           InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)), epoch=0)


@pytest.fixture(scope="module")
def eval_predictions(synth_ih26m_shards, tmp_path_factory) -> Path:
    """An oracle evaluation's predictions.parquet: what `interhand score` reads."""
    run_dir = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(main, _eval_args(synth_ih26m_shards, run_dir))
    assert result.exit_code == 0, result.output
    return run_dir / "result" / "interhand26m_all_val_gt_oracle" / "predictions.parquet"


def _eval_args(shards: Path, run_dir: Path, *more: str) -> list[str]:
    return ["eval", "--oracle", "--shards", str(shards.parent.parent), "--split", "val", "--root-source", "gt",
            "--run-dir", str(run_dir), "--vis", "1", "--loader-threads", "0", *more]


def _command(command: str, tmp_path: Path, shards: Path, checkpoint: Path, predictions: Path) -> tuple[list, Path]:
    """(arguments, output folder) of one run of `command` writing under tmp_path/out."""
    out = tmp_path / "out"
    image = tmp_path / "input.png"
    Image.fromarray((np.random.default_rng(1).random((120, 160, 3)) * 255).astype(np.uint8)).save(image)
    return {
        "eval": (_eval_args(shards, out), out),
        "score": (["score", str(predictions), "--shards", str(shards.parent.parent), "--out-dir", str(out),
                   "--vis", "1"], out),
        "predict": (["predict", "--checkpoint", str(checkpoint), "--image", str(image), "--bbox", "40,30,60,60",
                     "--out-dir", str(out)], out),
        "train": (["train", "--shards", str(shards.parent.parent), "--run-dir", str(out), "--epochs", "1",
                   "--steps-per-epoch", "1", "--batch-size", "2", "--loader-threads", "0", *_TINY], out),
        "synth": (["synth", str(out), "--frames", "2", "--captures", "1", "--cameras", "2"], out),
    }[command]


# (command, the file that fails: its name, then the fault)
FAILURES = [
    *[("eval", name, fault) for name in ("predictions.parquet", "per_sample.parquet", "metrics.json", "report.txt",
                                         "per_joint_error.png") for fault in ("full", "read-only")],
    *[("score", name, fault) for name in ("per_sample.parquet", "metrics.json", "report.txt", "comparison.txt")
      for fault in ("full", "read-only")],
    *[("predict", name, fault) for name in ("result_2d.png", "result_3d.png") for fault in ("full", "read-only")],
    *[("train", name, fault) for name in ("config.yaml", "train_log.jsonl", "train_logs.txt")
      for fault in ("full", "read-only")],
    *[("synth", name, fault) for name in ("skeleton.txt", "image") for fault in ("full", "read-only")],
]


@pytest.mark.parametrize("command, name, fault", FAILURES, ids=["-".join(row) for row in FAILURES])
def test_a_write_that_fails_is_one_line_naming_the_file_and_the_free_space(command, name, fault, tmp_path,
                                                                          monkeypatch, synth_ih26m_shards,
                                                                          tiny_checkpoint, eval_predictions):
    arguments, out = _command(command, tmp_path, synth_ih26m_shards, tiny_checkpoint, eval_predictions)
    before = _tree(tmp_path, synth_ih26m_shards, skip=out)
    _fault(monkeypatch, name, fault)
    result = CliRunner().invoke(main, arguments)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output[-3000:]
    assert len([line for line in lines if line.startswith("Error:")]) == 1 and lines[-1].startswith("Error:"), lines
    reason = "the disk is full" if fault == "full" else "Read-only file system"
    assert reason in lines[-1] and name in lines[-1] and "free there" in lines[-1], lines[-1]
    assert _tree(tmp_path, synth_ih26m_shards, skip=out) == before
    assert not [path for path in out.rglob("*.tmp")] if out.is_dir() else True


# (command, the output name where a link is planted, relative to the output folder)
LINKS = [
    ("eval", "result/interhand26m_all_val_gt_oracle/metrics.json"),
    ("eval", "result/interhand26m_all_val_gt_oracle/predictions.parquet.tmp"),
    ("eval", "vis/interhand26m_all_val_gt_oracle/per_joint_error.png"),
    ("score", "comparison.txt"),
    ("score", "comparison.csv.tmp"),
    ("predict", "result_2d.png"),
    ("train", "config.yaml"),
    ("train", "log/train_log.jsonl"),
    ("train", ".lock"),
]


@pytest.mark.parametrize("command, planted", LINKS, ids=["-".join(row) for row in LINKS])
def test_a_link_planted_at_an_output_name_is_refused_never_followed(command, planted, tmp_path, synth_ih26m_shards,
                                                                   tiny_checkpoint, eval_predictions):
    arguments, out = _command(command, tmp_path, synth_ih26m_shards, tiny_checkpoint, eval_predictions)
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir()
    target.write_text("not yours\n")
    link = out / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    before = _tree(tmp_path, synth_ih26m_shards, skip=out)
    result = CliRunner().invoke(main, arguments)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output[-3000:]
    assert lines[-1].startswith("Error:") and str(link) in lines[-1] and "link" in lines[-1], lines[-1]
    assert target.read_text() == "not yours\n" and _tree(tmp_path, synth_ih26m_shards, skip=out) == before


# (command, a folder the job makes for itself inside its output folder, planted as a link to a folder outside)
FOLDER_LINKS = [
    ("eval", "result/interhand26m_all_val_gt_oracle"),
    ("eval", "vis"),
    ("score", "interhand26m_all_val_gt_oracle"),
    ("train", "model_dump"),
    ("train", "log"),
]


@pytest.mark.parametrize("command, planted", FOLDER_LINKS, ids=["-".join(row) for row in FOLDER_LINKS])
def test_a_link_planted_as_one_of_the_jobs_folders_is_refused_never_followed(command, planted, tmp_path,
                                                                            synth_ih26m_shards, tiny_checkpoint,
                                                                            eval_predictions):
    arguments, out = _command(command, tmp_path, synth_ih26m_shards, tiny_checkpoint, eval_predictions)
    elsewhere = tmp_path / "outside"
    elsewhere.mkdir()
    link = out / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    before = _tree(tmp_path, synth_ih26m_shards, skip=out)
    result = CliRunner().invoke(main, arguments)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output[-3000:]
    assert lines[-1].startswith("Error:") and str(link) in lines[-1] and "link" in lines[-1], lines[-1]
    assert not any(elsewhere.iterdir()) and _tree(tmp_path, synth_ih26m_shards, skip=out) == before


def test_a_run_name_that_leads_out_of_the_run_folder_is_refused_before_anything_is_written(tmp_path,
                                                                                         synth_ih26m_shards):
    before = _tree(tmp_path)
    result = CliRunner().invoke(main, _eval_args(synth_ih26m_shards, tmp_path / "run", "--run-name", "../../../X"))
    assert result.exit_code != 0 and "Traceback" not in result.output and "plain name" in result.output
    assert _tree(tmp_path) == before and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["comparison.txt", "comparison.csv", "comparison_all.png"])
def test_a_prediction_file_named_like_the_side_by_side_files_is_refused(name, tmp_path, synth_ih26m_shards,
                                                                        eval_predictions):
    from dataclasses import replace

    from interhand.eval.predictions import read_predictions, write_predictions

    predictions = read_predictions(eval_predictions)
    renamed = write_predictions(tmp_path / "named.parquet", replace(predictions, metadata={**predictions.metadata,
                                                                                           "name": name}))
    result = CliRunner().invoke(main, ["score", str(renamed), "--shards", str(synth_ih26m_shards.parent.parent),
                                       "--out-dir", str(tmp_path / "out"), "--vis", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output and f"named {name!r}" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["eval", "score"])
def test_a_second_job_on_the_same_output_folder_is_refused_in_one_line(command, tmp_path, synth_ih26m_shards,
                                                                       tiny_checkpoint, eval_predictions):
    from interhand.runtime.folder_lock import run_folder_lock

    arguments, out = _command(command, tmp_path, synth_ih26m_shards, tiny_checkpoint, eval_predictions)
    held = out / "result" / "interhand26m_all_val_gt_oracle" if command == "eval" else out
    with run_folder_lock(held, "other"):  # the first job, still running
        result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and f"is in use by another `interhand {command}`" in \
        result.output
    assert not (held / "metrics.json").exists() and not (held / "comparison.txt").exists()
    assert CliRunner().invoke(main, arguments).exit_code == 0  # once the first has ended


def test_an_output_error_is_one_line_with_the_free_space():
    line = outputs.output_error_line(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/tmp/x/metrics.json.tmp"))
    assert line.startswith("the disk is full (No space left on device) while writing /tmp/x/metrics.json.tmp (")
    assert line.endswith("free there)") and "\n" not in line


def test_a_leftover_temporary_file_is_replaced_and_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    (tmp_path / "metrics.json.tmp").write_text("from a killed run")
    outputs.write_json(path, {"a": 1})
    assert path.read_text() == '{"a": 1}\n' and not (tmp_path / "metrics.json.tmp").exists()
    _fault(monkeypatch, "metrics.json", "full")
    with pytest.raises(outputs.OutputError, match="the disk is full"):
        outputs.write_json(path, {"a": 2})
    assert path.read_text() == '{"a": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
