"""Training snapshots: `model_dump/snapshot_<epoch>.pth.tar`, written atomically, found for --continue.

A snapshot is our checkpoint format (interhand.model.save_checkpoint: loadable with
`torch.load(weights_only=True)` and by `interhand.model.load_checkpoint`) with the network under the
original's DataParallel key layout (`module.` prefix), plus what resuming needs: the optimizer, the
position in the schedule (epoch, iteration), the CPU RNG state, the resolved run config, the shard
format version and the package version. Epochs are 0-based, as the original's.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from interhand import __version__
from interhand.config import TrainConfig, config_to_dict
from interhand.model import InterNet, save_checkpoint
from interhand.model.original_checkpoint import CheckpointUnreadable, load_checkpoint_payload, load_network_state
from interhand.shard_format import FORMAT_VERSION

__all__ = ["snapshot_path", "snapshots_newest_first", "latest_snapshot", "save_snapshot", "load_snapshot",
           "resume_from_newest", "ResumePoint", "ARCHITECTURE_FIELDS"]

# ModelConfig fields that change the weights' shapes or meaning: a snapshot must match them to resume.
ARCHITECTURE_FIELDS = ("resnet_type", "input_size", "heatmap_size", "sigma", "bbox_3d_size", "bbox_3d_size_root",
                       "heatmap_gain")


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    epoch: int  # the epoch to run next
    iteration: int  # iterations of that epoch already done (mid-epoch snapshots)
    path: Path


def snapshot_path(model_dump: Path, epoch: int, iteration: int | None = None) -> Path:
    """snapshot_<epoch>.pth.tar; a mid-epoch one is snapshot_<epoch>_iter<iteration>.pth.tar."""
    suffix = "" if iteration is None else f"_iter{iteration}"
    return Path(model_dump) / f"snapshot_{epoch}{suffix}.pth.tar"


def snapshots_newest_first(model_dump: Path) -> list[Path]:
    """The snapshots by position in the schedule, newest first (highest epoch, then iteration); `.tmp` files are
    never complete and not listed."""
    candidates = []
    for path in Path(model_dump).glob("snapshot_*.pth.tar"):
        match = re.match(r"^snapshot_(\d+)(?:_iter(\d+))?\.pth\.tar$", path.name)
        if match:
            epoch, iteration = int(match.group(1)), match.group(2)
            # an end-of-epoch snapshot comes after every mid-epoch one of the same epoch
            candidates.append(((epoch, float("inf") if iteration is None else int(iteration)), path))
    return [path for _, path in sorted(candidates, reverse=True)]


def latest_snapshot(model_dump: Path) -> Path | None:
    """The newest snapshot by name (not checked for being loadable: see resume_from_newest)."""
    snapshots = snapshots_newest_first(model_dump)
    return snapshots[0] if snapshots else None


def save_snapshot(path: Path, model: InterNet, optimizer: torch.optim.Optimizer, epoch: int, iteration: int | None,
                  config: TrainConfig) -> Path:
    """Write a snapshot (to `<path>.tmp`, then renamed). `iteration` None: the epoch is complete."""
    extra = {"iteration": -1 if iteration is None else int(iteration), "train_config": config_to_dict(config),
             "shard_format_version": FORMAT_VERSION, "package_version": __version__,
             "rng_cpu": torch.get_rng_state()}
    return save_checkpoint(path, model, epoch, optimizer.state_dict(), extra, key_prefix="module.")


def load_snapshot(path: Path, model: InterNet, optimizer: torch.optim.Optimizer) -> ResumePoint:
    """Restore the network and optimizer from `path`; raise ValueError if the architecture differs."""
    payload = load_checkpoint_payload(path)  # CheckpointUnreadable: one line naming the file
    stored = payload.get("model_config") or {}
    different = {name: (stored.get(name), getattr(model.config, name)) for name in ARCHITECTURE_FIELDS
                 if name in stored and stored[name] != getattr(model.config, name)}
    if different:
        listed = ", ".join(f"{name}: snapshot {old!r} vs run {new!r}" for name, (old, new) in different.items())
        raise ValueError(f"{path} was trained with another model config ({listed}); use a new --run-dir or the same config")
    load_network_state(model, payload["network"])
    if "optimizer" in payload:
        optimizer.load_state_dict(payload["optimizer"])
    if "rng_cpu" in payload:
        torch.set_rng_state(payload["rng_cpu"])
    iteration = int(payload.get("iteration", -1))
    epoch = int(payload["epoch"])
    if iteration < 0:
        return ResumePoint(epoch + 1, 0, Path(path))
    return ResumePoint(epoch, iteration, Path(path))


def resume_from_newest(model_dump: Path, model: InterNet, optimizer: torch.optim.Optimizer
                       ) -> tuple[ResumePoint | None, list[str]]:
    """Load the newest snapshot that loads (None when there is none at all), and one line per newer snapshot
    that could not be loaded and was passed over (empty or truncated: a run killed while the disk was full, a
    copy cut short). Raises ValueError when snapshots exist but none loads, or on an architecture mismatch."""
    snapshots, unreadable = snapshots_newest_first(model_dump), []
    for path in snapshots:
        try:
            return load_snapshot(path, model, optimizer), [f"{error}; falling back to an older snapshot"
                                                           for error in unreadable]
        except CheckpointUnreadable as error:
            unreadable.append(str(error))
    if snapshots:
        raise ValueError(f"--continue: none of the {len(snapshots)} snapshots in {model_dump} loads: "
                         + " | ".join(unreadable))
    return None, []
