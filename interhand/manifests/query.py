"""Select samples from a manifest without opening a tar (pyarrow compute; duckdb works on the same file)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interhand.manifests.read import read_manifest

__all__ = ["select_samples", "shard_urls", "samples_without_rootnet"]


def select_samples(shard_dir: Path, hand_type: Optional[str] = None, capture: Optional[int] = None,
                   camera: Optional[str] = None, seq_name: Optional[str] = None, min_valid_joints: int = 0,
                   columns: Optional[list[str]] = None) -> pa.Table:
    """Manifest rows matching every given condition; `min_valid_joints` counts both hands' valid joints."""
    table = read_manifest(shard_dir, columns=None)
    mask = pc.greater_equal(pc.add(table["num_valid_right"], table["num_valid_left"]), min_valid_joints)
    for column, value in (("hand_type", hand_type), ("capture", capture), ("camera", camera),
                          ("seq_name", seq_name)):
        if value is not None:
            mask = pc.and_(mask, pc.equal(table[column], value))
    selected = table.filter(mask)
    return selected.select(columns) if columns else selected


def shard_urls(shard_dir: Path, table: Optional[pa.Table] = None) -> list[str]:
    """Paths of the shards holding the given rows (all shards by default), in shard order."""
    table = read_manifest(shard_dir, columns=["shard", "shard_index"]) if table is None else table
    names = sorted(set(zip(table["shard_index"].to_pylist(), table["shard"].to_pylist())))
    return [str(Path(shard_dir) / name) for _, name in names]


def samples_without_rootnet(shard_dir: Path) -> tuple[int, int, Optional[str]]:
    """(samples with no RootNet output joined, all samples, the first such sample's key or None): RootNet's
    box and depth are zeros there (`rootnet_valid` 0; train splits have none)."""
    table = read_manifest(shard_dir, columns=["key", "rootnet_valid"])
    missing = np.flatnonzero(table.column("rootnet_valid").to_numpy() == 0)
    return len(missing), table.num_rows, (table.column("key")[int(missing[0])].as_py() if len(missing) else None)
