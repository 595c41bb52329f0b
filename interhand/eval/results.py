"""What every evaluation writes, and the mean-pose baseline's evaluation: no torch here (a baseline that needs no
network starts ~1.5 s sooner without it, #31).

`write_results` turns decoded predictions into RUN_DIR/result/<run>/{predictions.parquet, per_sample.parquet,
metrics.json, report.txt} and RUN_DIR/vis/<run>/ figures: the metrics are those of predictions.parquet (the
image_relative form of eval/predictions.py) scored by eval/score_file.py, the code behind `interhand score`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from interhand import __version__
from interhand.config import EvalConfig
from interhand.eval.baselines import fit_mean_pose, mean_pose_image_predictions
from interhand.eval.evaluators import DecodedPredictions
from interhand.eval.plots import figure_title, write_figures
from interhand.eval.predictions import PredictionFile, write_predictions
from interhand.eval.report import format_report
from interhand.eval.score_file import SplitRows, match_rows, open_rows, protocol_mask, row_chunks, score_file
from interhand.manifests.split_folder import SplitFolder
from interhand.outputs import make_folder, write_json, write_text
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.names import MANIFEST_FILE, split_dir
from interhand.shard_format.version import FORMAT_VERSION
from interhand.skeleton import NUM_JOINTS

__all__ = ["run_name", "write_results", "evaluate_mean_pose"]


def run_name(config: EvalConfig, checkpoint: Path | None) -> str:
    if config.run_name:
        return config.run_name
    if config.baseline == "mean-pose":
        source = "mean_pose"
    else:
        source = "" if checkpoint is None else checkpoint.name.replace(".pth.tar", "").replace(".", "_")
    if config.baseline == "untrained":
        source = f"untrained_{source}"
    if config.oracle:
        source = "_".join(filter(None, ("oracle", source)))
    return f"{config.dataset}_{config.annot_subset}_{config.split}_{config.root_source}_{source}"


def write_results(config: EvalConfig, shard_dir: Path, every_row: SplitRows, predictions: DecodedPredictions,
                  checkpoint: Path | None, images_per_s: float) -> dict:
    """Write the evaluation's files for `predictions` (every sample of the split, decoded) and return metrics.json's
    content."""
    name = run_name(config, checkpoint)
    results, vis_dir = Path(config.run_dir) / "result" / name, Path(config.run_dir) / "vis" / name
    make_folder(results, within=config.run_dir)
    make_folder(vis_dir, within=config.run_dir)
    # The metrics are the score of the predictions file as written (float32), so that `interhand score` on
    # it reproduces them exactly.
    predictions_file = _prediction_file(config, predictions, name, checkpoint, results / "predictions.parquet")
    write_predictions(predictions_file.path, predictions_file)
    metrics, per_sample, overlay_rows = score_file(
        predictions_file, every_row, match_rows(predictions_file, every_row, str(shard_dir / MANIFEST_FILE)),
        protocol_mask("all", every_row, None), config.dataset, config.root_source, None,
        results / "per_sample.parquet")
    metrics.update({"dataset": config.dataset, "annot_subset": config.annot_subset, "split": config.split,
                    "protocol": "all", "checkpoint": _source_label(config, checkpoint), "shards": str(shard_dir),
                    "shard_format_version": FORMAT_VERSION, "package_version": __version__})
    write_json(results / "metrics.json", metrics, indent=1, sort_keys=True)
    report = format_report(metrics, images_per_s, len(predictions.keys))
    write_text(results / "report.txt", report)  # `interhand eval` prints it
    write_figures(metrics, per_sample, overlay_rows, shard_dir, vis_dir, figure_title(name, metrics), config.vis,
                  config.dataset)
    return metrics

def evaluate_mean_pose(config: EvalConfig, split: SplitFolder) -> dict:
    """`interhand eval --baseline mean-pose`: the training split's mean pose predicted for every sample, scored; in
    this process (it needs no network and no GPU)."""
    start = time.perf_counter()
    every_row = open_rows(split.path)
    predictions = _mean_pose_predictions(config, every_row)
    images_per_s = len(predictions.keys) / max(time.perf_counter() - start, 1e-9)
    return write_results(config, split.path, every_row, predictions, None, images_per_s)


def _source_label(config: EvalConfig, checkpoint: Path | None) -> str:
    if config.baseline == "mean-pose":
        return f"mean-pose baseline of {split_dir(config.shards, config.dataset, config.annot_subset, 'train')}"
    if config.baseline == "untrained":
        return f"untrained (seed {config.seed}) of the architecture of {checkpoint}"
    if config.oracle:
        return "oracle" if checkpoint is None else f"oracle at the heatmap size of {checkpoint}"
    return str(checkpoint)


_MEAN_POSE_COLUMNS = ["joints_cam_mm", "root_joint_index", "hand_type", "right_present", "focal", "princpt"]


def _mean_pose_predictions(config: EvalConfig, rows: SplitRows) -> DecodedPredictions:
    """The baseline's predictions for every row, computed a chunk of rows at a time and held as float32 (the
    predictions file's precision: what is scored)."""
    train_dir = split_dir(config.shards, config.dataset, config.annot_subset, "train")
    read_dataset_json(train_dir)  # a clear FileNotFoundError when the train split has no finished shards
    mean_pose = fit_mean_pose(train_dir)
    count = len(rows)
    joints_img_rel = np.empty((count, NUM_JOINTS, 3), np.float32)
    rel_root_mm, hand_type_prob = np.empty(count, np.float32), np.empty((count, 2), np.float32)
    for start, chunk in row_chunks(rows, _MEAN_POSE_COLUMNS):
        end = start + len(chunk["hand_type"])
        joints_img_rel[start:end], rel_root_mm[start:end], hand_type_prob[start:end] = mean_pose_image_predictions(
            mean_pose, chunk["joints_cam_mm"], chunk["root_joint_index"], chunk["hand_type"],
            chunk["right_present"], chunk["focal"], chunk["princpt"])
    return DecodedPredictions(rows["key"].to_pylist(), joints_img_rel, rel_root_mm, hand_type_prob)


def _prediction_file(config: EvalConfig, predictions: DecodedPredictions, name: str, checkpoint: Path | None,
                     path: Path) -> PredictionFile:
    """The eval's decoded predictions in the image_relative file form (eval/predictions.py), rounded to the file's
    float32."""
    arrays = {"joints_img_px": predictions.joints_img_rel[..., :2],
              "joints_rel_depth_mm": predictions.joints_img_rel[..., 2],
              "rel_root_depth_mm": predictions.rel_root_depth_mm, "hand_type_prob": predictions.hand_type_prob}
    metadata = {"dataset": config.dataset, "annot_subset": config.annot_subset, "split": config.split, "name": name,
                "source": _source_label(config, checkpoint), "root_source": config.root_source}
    return PredictionFile(str(path), metadata, list(predictions.keys), None,
                          {key: np.asarray(value, np.float32) for key, value in arrays.items()}, "image_relative")
