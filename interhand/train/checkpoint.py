"""Training snapshots: `model_dump/snapshot_<epoch>.pth.tar`, written atomically, loaded for --continue.

Their names (`snapshot_path`, `latest_snapshot`) are in interhand.model.snapshots, which eval reads too.

A snapshot is our checkpoint format (interhand.model.save_checkpoint: loadable with
`torch.load(weights_only=True)` and by `interhand.model.load_checkpoint`) with the network under the
original's DataParallel key layout (`module.` prefix), plus what resuming needs: the optimizer, the
position in the schedule (epoch, iteration), the CPU RNG state, the resolved run config, the shard
format version and the package version. Epochs are 0-based, as the original's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from interhand import __version__
from interhand.config import ARCHITECTURE_FIELDS, TrainConfig, config_to_dict
from interhand.model import InterNet, save_checkpoint
from interhand.model.original_checkpoint import CheckpointUnreadable, load_checkpoint_payload, load_network_state
from interhand.model.snapshots import latest_snapshot, snapshot_path, snapshots_newest_first
from interhand.shard_format.version import FORMAT_VERSION

__all__ = ["snapshot_path", "snapshots_newest_first", "latest_snapshot", "save_snapshot", "load_snapshot",
           "resume_from_newest", "ResumePoint", "ARCHITECTURE_FIELDS"]



@dataclasses.dataclass(frozen=True)
class ResumePoint:
    epoch: int  # the epoch to run next
    iteration: int  # iterations of that epoch already done (mid-epoch snapshots)
    path: Path


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
        raise ValueError(f"{path} was trained with another model config ({listed}); "
                         "use a new --run-dir or the same config")
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
