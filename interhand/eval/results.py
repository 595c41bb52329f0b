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

__all__ = ["run_name", "write_results", "file_arrays", "evaluate_mean_pose"]


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


def write_results(config: EvalConfig, shard_dir: Path, every_row: SplitRows, keys: list[str], arrays: dict,
                  checkpoint: Path | None, images_per_s: float) -> dict:
    """Write the evaluation's files for every sample of the split (`keys`; `arrays`: the image_relative form's
    float32 arrays, `file_arrays`) and return metrics.json's content."""
    name = run_name(config, checkpoint)
    results, vis_dir = Path(config.run_dir) / "result" / name, Path(config.run_dir) / "vis" / name
    make_folder(results, within=config.run_dir)
    make_folder(vis_dir, within=config.run_dir)
    # The metrics are the score of the predictions file as written (float32), so that `interhand score` on
    # it reproduces them exactly.
    metadata = {"dataset": config.dataset, "annot_subset": config.annot_subset, "split": config.split, "name": name,
                "source": _source_label(config, checkpoint), "root_source": config.root_source}
    predictions_file = PredictionFile(str(results / "predictions.parquet"), metadata, keys, None, arrays,
                                      "image_relative")
    write_predictions(predictions_file.path, predictions_file)
    metrics, per_sample, overlay_rows = score_file(
        predictions_file, every_row, match_rows(predictions_file, every_row, str(shard_dir / MANIFEST_FILE)),
        protocol_mask("all", every_row, None), config.dataset, config.root_source, None,
        results / "per_sample.parquet")
    metrics.update({"dataset": config.dataset, "annot_subset": config.annot_subset, "split": config.split,
                    "protocol": "all", "checkpoint": _source_label(config, checkpoint), "shards": str(shard_dir),
                    "shard_format_version": FORMAT_VERSION, "package_version": __version__})
    write_json(results / "metrics.json", metrics, indent=1, sort_keys=True)
    report = format_report(metrics, images_per_s, len(keys))
    write_text(results / "report.txt", report)  # `interhand eval` prints it
    write_figures(metrics, per_sample, overlay_rows, shard_dir, vis_dir, figure_title(name, metrics), config.vis,
                  config.dataset)
    return metrics


def file_arrays(predictions: DecodedPredictions) -> dict:
    """Decoded predictions as the image_relative file form's arrays (eval/predictions.py), rounded to the file's
    float32: what eval writes and scores."""
    return {"joints_img_px": np.ascontiguousarray(predictions.joints_img_rel[..., :2], np.float32),
            "joints_rel_depth_mm": np.ascontiguousarray(predictions.joints_img_rel[..., 2], np.float32),
            "rel_root_depth_mm": np.asarray(predictions.rel_root_depth_mm, np.float32),
            "hand_type_prob": np.asarray(predictions.hand_type_prob, np.float32)}


def evaluate_mean_pose(config: EvalConfig, split: SplitFolder) -> dict:
    """`interhand eval --baseline mean-pose`: the training split's mean pose predicted for every sample, scored; in
    this process (it needs no network and no GPU)."""
    start = time.perf_counter()
    every_row = open_rows(split.path)
    arrays = _mean_pose_predictions(config, every_row)
    images_per_s = len(every_row) / max(time.perf_counter() - start, 1e-9)
    return write_results(config, split.path, every_row, every_row["key"].to_pylist(), arrays, None, images_per_s)


def _source_label(config: EvalConfig, checkpoint: Path | None) -> str:
    if config.baseline == "mean-pose":
        return f"mean-pose baseline of {split_dir(config.shards, config.dataset, config.annot_subset, 'train')}"
    if config.baseline == "untrained":
        return f"untrained (seed {config.seed}) of the architecture of {checkpoint}"
    if config.oracle:
        return "oracle" if checkpoint is None else f"oracle at the heatmap size of {checkpoint}"
    return str(checkpoint)


_MEAN_POSE_COLUMNS = ["joints_cam_mm", "root_joint_index", "hand_type", "right_present", "focal", "princpt"]


def _mean_pose_predictions(config: EvalConfig, rows: SplitRows) -> dict:
    """The baseline's predictions for every row as the image_relative file form's arrays, computed a chunk of rows
    at a time into the file's float32 arrays (what is written and scored: no other copy of the split, #31)."""
    train_dir = split_dir(config.shards, config.dataset, config.annot_subset, "train")
    read_dataset_json(train_dir)  # a clear FileNotFoundError when the train split has no finished shards
    mean_pose = fit_mean_pose(train_dir)
    count = len(rows)
    arrays = {"joints_img_px": np.empty((count, NUM_JOINTS, 2), np.float32),
              "joints_rel_depth_mm": np.empty((count, NUM_JOINTS), np.float32),
              "rel_root_depth_mm": np.empty(count, np.float32), "hand_type_prob": np.empty((count, 2), np.float32)}
    for start, chunk in row_chunks(rows, _MEAN_POSE_COLUMNS):
        end = start + len(chunk["hand_type"])
        joints_img_rel, arrays["rel_root_depth_mm"][start:end], arrays["hand_type_prob"][start:end] = \
            mean_pose_image_predictions(mean_pose, chunk["joints_cam_mm"], chunk["root_joint_index"],
                                        chunk["hand_type"], chunk["right_present"], chunk["focal"], chunk["princpt"])
        arrays["joints_img_px"][start:end] = joints_img_rel[..., :2]
        arrays["joints_rel_depth_mm"][start:end] = joints_img_rel[..., 2]
    return arrays
