"""`interhand eval`: score a checkpoint (or the oracle) on one split's shards; a process separate from training.

Reads only the shards, their manifest and the checkpoint. Each rank predicts its share of the split (no
augmentation, the shards' order, every sample exactly once); rank 0 gathers, joins the ground truth from
the manifest by key, and writes RUN_DIR/result/<run>/{predictions.parquet, per_sample.parquet, metrics.json,
report.txt} and RUN_DIR/vis/<run>/ figures. The same checkpoint and shards give the same metrics.json. The metrics
are those of predictions.parquet (the image_relative form of eval/predictions.py) scored by eval/score_file.py,
the code behind `interhand score`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from interhand import __version__
from interhand.config import EvalConfig
from interhand.eval.baselines import fit_mean_pose, mean_pose_image_predictions
from interhand.eval.evaluators import DecodedPredictions
from interhand.eval.metrics import decode_joints, decode_rel_root
from interhand.eval.plots import figure_title, write_figures
from interhand.eval.predictions import PredictionFile, write_predictions
from interhand.eval.report import format_report
from interhand.eval.score_file import SplitRows, match_rows, open_rows, protocol_mask, row_chunks, score_file
from interhand.eval.split_folder import open_split
from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, heatmap_geometry
from interhand.loaders.batch import images_to_float
from interhand.loaders.build import build_loader
from interhand.manifests.split_folder import SplitFolder
from interhand.model import InterNet, load_checkpoint
from interhand.model.snapshots import latest_snapshot, snapshot_path
from interhand.outputs import make_folder, write_json, write_text
from interhand.progress import progress
from interhand.runtime.ddp import DistContext, distributed
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.names import MANIFEST_FILE, split_dir
from interhand.shard_format.version import FORMAT_VERSION
from interhand.skeleton import NUM_JOINTS

__all__ = ["run", "resolve_checkpoint", "run_name", "result_dir", "CONFIG_TYPE"]

CONFIG_TYPE = EvalConfig  # what a torchrun worker (interhand.runtime.worker) reads


def resolve_checkpoint(config: EvalConfig) -> Path | None:
    """The checkpoint to score: --checkpoint, else RUN_DIR/model_dump/snapshot_<test_epoch>, else the newest
    (for --baseline untrained: the one whose architecture is initialised afresh; for --oracle: the one whose
    heatmap size is scored). None for the plain oracle (64³) and the mean-pose baseline, which need no network."""
    if config.baseline == "mean-pose" or (config.oracle and not config.checkpoint and config.test_epoch < 0):
        return None
    if config.checkpoint:
        path = Path(config.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} not found")
        return path
    model_dump = Path(config.run_dir) / "model_dump"
    if config.test_epoch >= 0:
        path = snapshot_path(model_dump, config.test_epoch)
        if not path.is_file():
            have = sorted(p.name for p in model_dump.glob("snapshot_*.pth.tar")) if model_dump.is_dir() else []
            raise FileNotFoundError(f"{path} not found; {model_dump} has {have or 'no snapshots'}")
        return path
    path = latest_snapshot(model_dump)
    if path is None:
        raise FileNotFoundError(f"no snapshot in {model_dump}: pass --checkpoint, --test-epoch or --oracle")
    return path


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


def result_dir(config: EvalConfig) -> Path:
    """RUN_DIR/result/<run>/: where the evaluation writes metrics.json and report.txt."""
    return Path(config.run_dir) / "result" / run_name(config, resolve_checkpoint(config))


def _collect(model, loader, geometry, device, oracle: bool, bar, world_size: int = 1) -> DecodedPredictions:
    """Predict every sample of this rank's share; each batch's output is decoded (voxels → image) right away."""
    keys, joints_img_rel, rel_root_mm, hands = [], [], [], []
    for batch in loader:
        bar.update(len(batch.keys) * world_size)  # rank 0's count stands for all ranks
        if oracle:  # a perfect heatmap's hard argmax is the nearest voxel of the target
            voxel = batch.joints_voxel.round().clamp(0, geometry.heatmap_size - 1).numpy()
            root_bins = batch.rel_root_depth_bins[:, 0].numpy()
            hands.append(batch.hand_type.numpy())
        else:
            output = model.predict(images_to_float(batch.image, batch.colour, device))
            voxel = output["joints_voxel"].float().cpu().numpy()
            root_bins = output["rel_root_depth_bins"][:, 0].float().cpu().numpy()
            hands.append(output["hand_type"].float().cpu().numpy())
        keys.extend(batch.keys)
        # evaluation never flips: the patch's frame maps to the image's
        joints_img_rel.append(decode_joints(voxel, batch.patch_to_flipped_img.numpy(), geometry))
        rel_root_mm.append(decode_rel_root(root_bins, geometry))
    if not keys:
        return DecodedPredictions([], np.zeros((0, NUM_JOINTS, 3)), np.zeros(0), np.zeros((0, 2)))
    return DecodedPredictions(keys, np.concatenate(joints_img_rel), np.concatenate(rel_root_mm), np.concatenate(hands))


def _gather(predictions: DecodedPredictions, context: DistContext) -> DecodedPredictions:
    if not context.distributed:
        return predictions
    parts = [None] * context.world_size
    dist.all_gather_object(parts, predictions)
    return DecodedPredictions(sum((p.keys for p in parts), []),
                              *(np.concatenate([getattr(p, name) for p in parts])
                                for name in ("joints_img_rel", "rel_root_depth_mm", "hand_type_prob")))


def run(config: EvalConfig, split: SplitFolder | None = None) -> dict | None:
    """Score; returns metrics.json's content on rank 0 (None on the others). `split`: the folder `open_split`
    checked already in this process (else it is opened here)."""
    with distributed(use_gpu=bool(config.launch.gpu)) as context:
        return _evaluate(config, context, split or open_split(config))


def _evaluate(config: EvalConfig, context: DistContext, split: SplitFolder) -> dict | None:
    shard_dir = split.path
    checkpoint = resolve_checkpoint(config)
    model = None if checkpoint is None else load_checkpoint(checkpoint, map_location=context.device)
    if model is not None and config.baseline == "untrained":
        torch.manual_seed(config.seed)
        model = InterNet(model.config).to(context.device).eval()
    geometry = ORIGINAL_GEOMETRY if model is None else heatmap_geometry(model.config)
    start = time.perf_counter()
    if config.baseline == "mean-pose":
        if not context.is_main:
            return None
        every_row = open_rows(shard_dir)
        predictions = _mean_pose_predictions(config, every_row)
    else:
        loader = build_loader(split, config.loader, context.rank, context.world_size, with_keys=True,
                              geometry=geometry, on_gpu=context.device.type == "cuda")
        samples = split.dataset.counts.samples
        with torch.no_grad(), progress(total=samples, desc=f"eval {config.split}", unit="img",
                                       enabled=context.is_main) as bar:
            predictions = _gather(_collect(model, loader, geometry, context.device, config.oracle, bar,
                                           context.world_size), context)
        if not context.is_main:
            return None
        every_row = open_rows(shard_dir)
    images_per_s = len(predictions.keys) / max(time.perf_counter() - start, 1e-9)
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
