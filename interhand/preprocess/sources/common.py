"""What every source reader shares: the rejection record, structural errors, and sample checks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np

from interhand.shard_format import HAND_TYPES, Sample

__all__ = ["Rejection", "RejectSample", "SourceError", "Record", "SourceReading", "finite_problem", "load_json", "require_file"]


@dataclass(frozen=True)
class Rejection:
    """One input annotation that does not become a sample, with a reason a person understands."""

    source_file: str
    annotation_id: int  # -1 when the annotation has no readable id
    key: str            # the sample key it would have had ('' when unknown)
    reason: str


Record = Union[Sample, Rejection]


class RejectSample(Exception):
    """Raised by a sample builder: this annotation becomes an errors.parquet row with this message."""


class SourceError(ValueError):
    """A structural problem (no such split, unreadable or mis-shaped file): one clear message, no traceback."""


@dataclass
class SourceReading:
    """An opened source: its input files and joint set, and a one-pass iterator of records.

    `records()` yields exactly one Sample or Rejection per input annotation, so that
    samples + rejections = input annotations (issue 3, "nothing is lost silently"). `records(share)` yields
    None instead of a Sample where `share(position)` is False (see coco_stream.join_records).
    """

    files: list[Path]
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    records: Callable[..., Iterator[Optional[Record]]]
    layout: str = ""


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        siblings = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        hint = f"; {path.parent} holds {', '.join(siblings[:12]) or 'nothing'}" if path.parent.is_dir() else \
            f"; {path.parent} does not exist"
        raise SourceError(f"{what} not found: {path}{hint}")
    return path


def load_json(path: Path) -> object:
    """json.load for the small files (camera parameters); a broken file is a SourceError naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: unreadable JSON ({error})") from error


_CHECKED = ("joints_world_mm", "joints_cam_mm", "joints_img", "bbox_raw", "bbox", "focal", "princpt", "campos_mm",
            "camrot")


def finite_problem(sample: Sample, joint_names: tuple[str, ...]) -> str:
    """'' when every coordinate and camera parameter is finite, else what is not (for errors.parquet)."""
    # Fast path: a sum is finite only if every term is (NaN and inf propagate; inf - inf is NaN, quietly).
    with np.errstate(invalid="ignore"):
        total = sum(float(np.sum(getattr(sample, name), dtype=np.float64)) for name in _CHECKED)
    if math.isfinite(total) and sample.hand_type in HAND_TYPES and sample.bbox_raw[2] > 0 and sample.bbox_raw[3] > 0:
        return ""
    for name in ("joints_world_mm", "joints_cam_mm", "joints_img"):
        bad = ~np.isfinite(getattr(sample, name)).all(axis=1)
        if bad.any():
            joints = ", ".join(joint_names[i] for i in np.flatnonzero(bad)[:4])
            return f"non-finite {name} (NaN or inf) at joint(s) {joints}"
    for name in ("bbox_raw", "focal", "princpt", "campos_mm", "camrot"):
        if not np.isfinite(getattr(sample, name)).all():
            return f"non-finite {name} {np.asarray(getattr(sample, name)).tolist()}"
    if not np.isfinite(sample.bbox).all():
        return (f"bbox {np.asarray(sample.bbox_raw).tolist()} overflows float32 once processed "
                f"(x1.25): {np.asarray(sample.bbox).tolist()}")
    if sample.hand_type not in HAND_TYPES:
        return f"hand_type {sample.hand_type!r} is not one of {', '.join(HAND_TYPES)}"
    if sample.bbox_raw[2] <= 0 or sample.bbox_raw[3] <= 0:
        return f"bbox {np.asarray(sample.bbox_raw).tolist()} has no area"
    return ""
