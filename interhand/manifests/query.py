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
    """Manifest rows matching every given condition; `min_valid_joints` counts both hands' valid joints.

    Only the columns the conditions and `columns` name are read (a full manifest's joint arrays are GBs)."""
    conditions = {"hand_type": hand_type, "capture": capture, "camera": camera, "seq_name": seq_name}
    wanted = ["num_valid_right", "num_valid_left", *(name for name, value in conditions.items() if value is not None)]
    read = list(dict.fromkeys([*columns, *wanted])) if columns else None
    table = read_manifest(shard_dir, columns=read)
    mask = pc.greater_equal(pc.add(table["num_valid_right"], table["num_valid_left"]), min_valid_joints)
    for column, value in conditions.items():
        if value is not None:
            mask = pc.and_(mask, pc.equal(table[column], value))
    selected = table.filter(mask)
    return selected.select(columns) if columns else selected


def shard_urls(shard_dir: Path, table: Optional[pa.Table] = None) -> list[str]:
    """Paths of the shards holding the given rows (all shards by default), in shard order (one Python string per
    shard, not per row)."""
    table = read_manifest(shard_dir, columns=["shard", "shard_index"]) if table is None else table
    indexes = table["shard_index"].to_numpy()
    _, first = np.unique(indexes, return_index=True)
    names = table["shard"].take(pa.array(first)).to_pylist()
    return [str(Path(shard_dir) / name) for name in names]


def samples_without_rootnet(shard_dir: Path) -> tuple[int, int, Optional[str]]:
    """(samples with no RootNet output joined, all samples, the first such sample's key or None): RootNet's
    box and depth are zeros there (`rootnet_valid` 0; train splits have none)."""
    table = read_manifest(shard_dir, columns=["key", "rootnet_valid"])
    missing = np.flatnonzero(table.column("rootnet_valid").to_numpy() == 0)
    return len(missing), table.num_rows, (table.column("key")[int(missing[0])].as_py() if len(missing) else None)
