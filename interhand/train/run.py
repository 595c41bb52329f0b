"""`interhand train`, one process: build model, optimizer and loader, resume, run the epochs, snapshot.

Run directly for one process, or by `interhand.train.launch` on torchrun workers (interhand.runtime: one process
per GPU, or N CPU processes with gloo). Output folder as the original's: log/, model_dump/, result/, vis/.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import yaml

from interhand.config import TrainConfig, config_to_dict
from interhand.geometry.heatmap import heatmap_geometry
from interhand.loaders.build import build_loader
from interhand.loaders.shares import equal_share
from interhand.model import build_internet, prepare_for_device
from interhand.outputs import make_folder, write_text
from interhand.runtime.ddp import DistContext, distributed, gather_from_ranks, wait_for_ranks, weights_digest
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.names import split_dir
from interhand.train.checkpoint import resume_from_newest, save_snapshot, snapshot_path
from interhand.train.log import RunLog
from interhand.train.loop import LoopSettings, train_one_epoch

__all__ = ["run", "run_folders", "train_shard_dir", "write_resolved_config", "CONFIG_TYPE"]

CONFIG_TYPE = TrainConfig  # what a torchrun worker (interhand.runtime.worker) reads

RUN_FOLDERS = ("log", "model_dump", "result", "vis")
# Lines for the person who started the run (a snapshot passed over on --continue): the CLI and the torchrun
# workers show them on stderr.
_logger = logging.getLogger(__name__)


def run_folders(config: TrainConfig) -> dict[str, Path]:
    return {name: Path(config.run_dir) / name for name in RUN_FOLDERS}


def train_shard_dir(config: TrainConfig) -> Path:
    """SHARDS/<dataset>/<annot_subset>/train, checked: a clear error when no finished shards are there."""
    shard_dir = split_dir(config.shards, config.dataset, config.annot_subset, "train")
    read_dataset_json(shard_dir, config.loader.accept_incomplete)  # one line naming the file when not usable
    return shard_dir


def write_resolved_config(config: TrainConfig) -> Path:
    path = Path(config.run_dir) / "config.yaml"
    make_folder(path.parent)
    write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))  # never through a planted link
    return path


def _snapshot_writer(model, optimizer, config: TrainConfig, folders: dict[str, Path], context: DistContext):
    def write(epoch: int, iteration: int | None) -> None:
        if context.is_main:
            save_snapshot(snapshot_path(folders["model_dump"], epoch, iteration), model, optimizer, epoch, iteration,
                          config)
            if iteration is None:  # the epoch is complete: its mid-epoch snapshots (~250 MB each) are superseded
                for superseded in folders["model_dump"].glob(f"snapshot_{epoch}_iter*.pth.tar"):
                    superseded.unlink()
                if config.keep_snapshots and epoch >= config.keep_snapshots:
                    snapshot_path(folders["model_dump"], epoch - config.keep_snapshots).unlink(missing_ok=True)
    return write


def run(config: TrainConfig) -> dict:
    """Train; returns the last epoch's summary (rank 0's view)."""
    with distributed(use_gpu=bool(config.launch.gpu)) as context:
        return _train(config, context)


def _train(config: TrainConfig, context: DistContext) -> dict:
    folders = run_folders(config)
    if context.is_main:
        for folder in folders.values():
            make_folder(folder, within=config.run_dir)
    log = RunLog(folders["log"], enabled=context.is_main)
    shard_dir = train_shard_dir(config)
    torch.manual_seed(config.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_internet(config.model)
    module = prepare_for_device(model, context.device, compile_model=False)
    if context.distributed:
        module = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[context.local_rank] if context.device.type == "cuda" else None)
    if config.model.compile:  # the DDP-wrapped module: DDP's bucketed all-reduce is then overlapped with backward
        module = torch.compile(module)
    if context.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one patch size: the fastest convolution algorithms, chosen once
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start_epoch, start_iteration = 0, 0
    resume = None
    if config.continue_train:
        resume, skipped = resume_from_newest(folders["model_dump"], model, optimizer)
        for line in skipped:
            log.info(line)
            if context.is_main:
                _logger.warning(line)
        if resume is None:
            log.info("--continue: no snapshot in model_dump/, starting from scratch")
        else:
            start_epoch, start_iteration = resume.epoch, resume.iteration
            log.info(f"resumed from {resume.path} at epoch {start_epoch}, iteration {start_iteration}")
    geometry = heatmap_geometry(config.model)
    loader = build_loader(shard_dir, config.loader, context.rank, context.world_size, geometry=geometry,
                          equal_shares=True, on_gpu=context.device.type == "cuda")
    steps = len(loader) if not config.steps_per_epoch else min(len(loader), config.steps_per_epoch)
    _check_same_steps(steps, context)
    if resume is not None:  # the steps after the snapshot are redone: their first log lines go
        log.rewind(start_epoch, start_epoch * steps + start_iteration)
    write = _snapshot_writer(model, optimizer, config, folders, context)
    if context.is_main:
        log.info(f"training {config.dataset}/{config.annot_subset} from {shard_dir}: {context.world_size} process(es) "
                 f"on {context.device.type}, {loader.backend} loader, batch {config.loader.batch_size} per process "
                 f"(global {config.loader.batch_size * context.world_size}), lr {config.lr} (not scaled), "
                 f"{steps} iterations per epoch, epochs {start_epoch}..{config.total_epochs - 1}; "
                 f"{_shares_line(shard_dir, config, context.world_size)}")
    summary: dict = {}
    for epoch in range(start_epoch, config.total_epochs):
        loader.set_epoch(epoch)
        settings = LoopSettings(epoch=epoch, lr=config.lr_at(epoch), sigma=config.model.sigma,
                                heatmap_loss=config.model.loss, log_every=config.log_every, steps_per_epoch=steps,
                                start_iteration=start_iteration if epoch == start_epoch else 0,
                                snapshot_every=config.snapshot_every, global_step=epoch * steps,
                                channels_last=config.model.channels_last)
        summary = train_one_epoch(module, loader, optimizer, log, context, settings,
                                  on_snapshot=lambda iteration, epoch=epoch: write(epoch, iteration))
        ranks = _rank_report(summary.pop("batch_sizes"), summary["iterations"], model, context)
        if (epoch + 1) % config.snapshot_epochs == 0 or epoch + 1 == config.total_epochs:
            write(epoch, None)
        log.record("epoch", epoch=epoch, lr=settings.lr, **summary, ranks=ranks)
        log.info(f"epoch {epoch}: " + ", ".join(f"{key} {value:.4g}" for key, value in summary.items()))
    wait_for_ranks(context)  # the run ends on every rank once rank 0 has written its last snapshot
    return summary


def _shares_line(shard_dir: Path, config: TrainConfig, world_size: int) -> str:
    """How the split is shared this run, in words (interhand.loaders.shares)."""
    total = read_dataset_json(shard_dir, config.loader.accept_incomplete).counts.samples
    share = equal_share(total, world_size)
    return (f"{total} samples: {share} a process an epoch ({total - share * world_size} left out an epoch, a "
            "different one each epoch)" if world_size > 1 else f"{total} samples")


def _check_same_steps(steps: int, context: DistContext) -> None:
    """Every rank must run the same steps an epoch (the equal shares of interhand.loaders.shares): one error on
    every rank instead of a hang at the first all-reduce of a rank with a step more."""
    counts = gather_from_ranks(steps, context)
    if len(set(counts)) > 1:
        raise RuntimeError(f"the ranks' loaders give different steps per epoch ({counts}, by rank); DDP would hang")


def _rank_report(batch_sizes: dict[int, int], iterations: int, model, context: DistContext) -> list[dict]:
    """Each rank's epoch, for the log: its iterations, its batches by rows, and a digest of its weights (all equal
    under DDP; a difference is said in the log and on stderr)."""
    mine = {"rank": context.rank, "iterations": iterations,
            "batch_sizes": {str(rows): count for rows, count in sorted(batch_sizes.items())},
            "weights": weights_digest(model) if context.distributed else None}  # one process: nothing to compare
    if context.device.type == "cuda":  # this process's own peak (the caching allocator's), not the whole GPU's
        mine["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_reserved(context.device) / 2**20)
    ranks = gather_from_ranks(mine, context)
    if context.distributed and context.is_main and len({rank["weights"] for rank in ranks}) > 1:
        _logger.warning(f"the ranks' weights differ after this epoch: {[rank['weights'] for rank in ranks]}")
    return ranks
