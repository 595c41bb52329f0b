"""Every figure the project writes: written, non-trivial, titled, and with the colours its legend names."""

from __future__ import annotations

import json
from itertools import islice

import numpy as np
from click.testing import CliRunner
from PIL import Image

from interhand.cli import main
from interhand.config import LoaderConfig
from interhand.eval.plots import figure_title, overlay_sheet, plot_error_by_hand_type, plot_per_joint_errors
from interhand.loaders.build import build_loader
from interhand.loaders.preview import augment_caption, write_batch_sheet
from interhand.skeleton import IH26M_JOINT_NAMES
from interhand.synth.contact_sheet import write_contact_sheet
from interhand.vis import GROUND_TRUTH, LEFT_RGB, PREDICTION, RIGHT_RGB, masked_hands


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _has_colour(image: np.ndarray, colour, minimum: int = 20) -> bool:
    return int(np.all(np.abs(image - np.array(colour)) <= 2, axis=-1).sum()) >= minimum


def _header_has_text(image: np.ndarray, rows: int = 20) -> bool:
    return int((image[:rows].max(axis=-1) > 200).sum()) > 100  # white title text on the black band


def test_contact_sheet_is_titled_and_tells_the_hands_apart(synth_ih26m_root, tmp_path):
    path = write_contact_sheet(synth_ih26m_root, "train", count=8, columns=4, seed=0, out_path=tmp_path / "sheet.png")
    image = _pixels(path)
    assert image.shape[1] >= 1024 and image.std() > 20 and _header_has_text(image)
    assert _has_colour(image, RIGHT_RGB) and _has_colour(image, LEFT_RGB)


def test_batch_preview_names_samples_and_shows_the_augmentation(synth_ih26m_shards, tmp_path):
    loader = build_loader(synth_ih26m_shards / "train", LoaderConfig(batch_size=4, threads=0), with_keys=True)
    batches = list(islice(iter(loader), 2))
    assert batches[0].params is not None and batches[0].params.shape == (4, 8)
    path = write_batch_sheet(batches, tmp_path / "batches.png", columns=4, shard_dir=synth_ih26m_shards / "train",
                             title="train")
    image = _pixels(path)
    assert image.std() > 20 and _header_has_text(image) and (_has_colour(image, RIGHT_RGB)
                                                              or _has_colour(image, LEFT_RGB))
    assert augment_caption(np.array([0, 0, 1.0, 0, 0, 1, 1, 1])) == "no augmentation"
    assert augment_caption(np.array([0, 0, 1.1, -12.4, 1, 1, 1, 1])) == "flip · rot -12° · scale 1.10"


def test_a_masked_hand_is_named_with_its_reason():
    valid = np.ones(42, bool)
    valid[21:] = False  # InterHand2.6M order: the left hand is 21..41
    assert masked_hands("interacting", valid, True) == ["left hand masked: wrist invalid"]
    assert masked_hands("right", valid, True) == []


def _metrics(checkpoint: str) -> dict:
    return {"checkpoint": checkpoint, "dataset": "interhand26m", "annot_subset": "all", "split": "val",
            "root_source": "rootnet"}


def test_titles_tell_the_oracle_from_a_snapshot():
    assert "oracle" in figure_title("run", _metrics("oracle"))
    snapshot = figure_title("run", _metrics("output/model_dump/snapshot_3.pth.tar"))
    assert "snapshot_3.pth.tar" in snapshot and "oracle" not in snapshot and "all/val" in snapshot
    assert "root depth from rootnet" in snapshot


def test_per_joint_figure_is_written_with_counts(tmp_path):
    per_joint = {group: {name: 3.0 + index % 5 for index, name in enumerate(IH26M_JOINT_NAMES)}
                 for group in ("single", "interacting", "all")}
    per_joint["interacting"]["l_wrist"] = None
    path = plot_per_joint_errors(per_joint, "run\ncheckpoint", tmp_path / "per_joint.png",
                                 {"single": 22, "interacting": 24})
    image = _pixels(path)
    assert image.shape[1] >= 1000 and image.std() > 20


def test_hand_type_figure_leaves_out_empty_kinds_and_counts_exclusions(tmp_path):
    errors = np.array([3.0, 4.0, np.nan, 5.0, 6.0, 2.0])
    kinds = np.array(["right", "right", "right", "interacting", "interacting", "interacting"])
    path = plot_error_by_hand_type(errors, kinds, tmp_path / "by_type.png", "run\ncheckpoint")
    image = _pixels(path)
    assert image.std() > 20 and image.shape[0] > 400


def test_overlay_sheet_has_a_legend_and_a_masked_tile(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 80, (300, 400, 3), dtype=np.uint8) for _ in range(2)]
    gt = rng.uniform(100, 250, (2, 42, 2))
    valid = np.ones((2, 42))
    valid[1] = 0
    path = overlay_sheet(images, gt, gt + 5, valid, [["a", "b"], ["c", "d"]], True, tmp_path / "worst.png",
                         title=figure_title("interhand26m_all_val_rootnet_snapshot_3", _metrics("snapshot_3.pth.tar")))
    image = _pixels(path)
    assert _header_has_text(image) and _has_colour(image, GROUND_TRUTH) and _has_colour(image, PREDICTION)
    assert _has_colour(image[:, 256:], (255, 120, 120), minimum=5)  # the masked tile says why


def test_plot_log_has_one_panel_per_term_and_a_titled_run(tmp_path):
    log = tmp_path / "run" / "log"
    log.mkdir(parents=True)
    lines = [{"kind": "step", "time": 0, "epoch": step // 5, "iteration": step % 5 + 1, "global_step": step + 1,
              "lr": 1e-4, "images_per_s": 10.0, "data_wait": 0.1, "loss_joint_heatmap": 600.0 - step,
              "loss_rel_root_depth": 0.0, "loss_hand_type": 0.7} for step in range(15)]
    (log / "train_log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(main, ["plot-log", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    image = _pixels(tmp_path / "run" / "vis" / "train_loss.png")
    assert image.shape[0] > 700 and image.std() > 10
