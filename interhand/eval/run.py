"""`interhand eval`: score a checkpoint (or the oracle) on one split's shards; a process separate from training.

Reads only the shards, their manifest and the checkpoint. Each rank predicts its share of the split (no
augmentation, the shards' order, every sample exactly once); rank 0 gathers, joins the ground truth from
the manifest by key, and writes RUN_DIR/result/<run>/{predictions.parquet, per_sample.parquet, metrics.json,
report.txt} and RUN_DIR/vis/<run>/ figures (eval/results.py). The same checkpoint and shards give the same
metrics.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from interhand.config import EvalConfig
from interhand.eval.evaluators import DecodedPredictions
from interhand.eval.metrics import decode_joints, decode_rel_root
from interhand.eval.results import evaluate_mean_pose, file_arrays, run_name, write_results
from interhand.eval.score_file import open_rows
from interhand.eval.split_folder import open_split
from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, heatmap_geometry
from interhand.loaders.batch import images_to_float
from interhand.loaders.build import build_loader
from interhand.manifests.split_folder import SplitFolder
from interhand.model import InterNet, load_checkpoint
from interhand.model.snapshots import latest_snapshot, snapshot_path
from interhand.progress import progress
from interhand.runtime.ddp import DistContext, distributed
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
    checked already in this process (else it is opened here). The mean-pose baseline runs on rank 0 alone."""
    with distributed(use_gpu=bool(config.launch.gpu)) as context:
        if config.baseline == "mean-pose":  # no network: rank 0 alone
            return evaluate_mean_pose(config, split or open_split(config, indexes=False)) if context.is_main else None
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
    return write_results(config, shard_dir, every_row, list(predictions.keys), file_arrays(predictions), checkpoint,
                         images_per_s)
