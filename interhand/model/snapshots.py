"""Names of the snapshots in a run's `model_dump/`: `snapshot_<epoch>[_iter<iteration>].pth.tar`, newest first.

Here, beside checkpoint loading (interhand.model.load_checkpoint), rather than in train: the names are the
contract between the writer (interhand.train.checkpoint, which adds what resuming needs) and every reader
(`interhand eval --test-epoch`, the newest snapshot), as the original's `snapshot_%d.pth.tar` is between its
train.py and test.py. Train keeps what only resuming needs (optimizer, schedule position, RNG state).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["snapshot_path", "snapshots_newest_first", "latest_snapshot"]


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
    """The newest snapshot by name (not checked for being loadable: interhand.train.checkpoint.resume_from_newest skips
    those)."""
    snapshots = snapshots_newest_first(model_dump)
    return snapshots[0] if snapshots else None
