"""Helpers shared by the format writers: float32-valued JSON, image encoding, annotation boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from interhand.outputs import atomic_file, make_folder, save_image

__all__ = ["as_float32_list", "write_json", "tight_bbox", "save_jpeg", "save_png", "to_gray_rgb", "inside_image"]

# The dataset's boxes are the tight box of the valid projected joints enlarged ×1.2 about its centre
# (checked on the real samples: ratio 1.2000 on both sides, same centre).
_BBOX_ENLARGE = 1.2


def as_float32_list(values: np.ndarray) -> list:
    """Nested list of Python floats holding float32 values, as the real files print them (33.56839370727539)."""
    return np.asarray(values, dtype=np.float32).tolist()


def write_json(path: Path, payload: object) -> None:
    make_folder(path.parent)
    with atomic_file(path, binary=False) as handle:  # never through a planted link; a full disk is one line
        json.dump(payload, handle)


def tight_bbox(points_xy: np.ndarray) -> list[float]:
    """[x, y, w, h]: the tight box of `points_xy` (N, 2) enlarged ×1.2 about its centre."""
    low, high = points_xy.min(axis=0), points_xy.max(axis=0)
    centre, size = (low + high) / 2.0, (high - low) * _BBOX_ENLARGE
    return as_float32_list(np.concatenate([centre - size / 2.0, size]))


def inside_image(points_xy: np.ndarray, width: int, height: int) -> np.ndarray:
    return (points_xy[:, 0] >= 0) & (points_xy[:, 0] < width) & (points_xy[:, 1] >= 0) & (points_xy[:, 1] < height)


def to_gray_rgb(image: np.ndarray) -> np.ndarray:
    """Monochrome cameras: the released JPEGs are RGB with three equal channels."""
    luminance = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(np.clip(luminance + 0.5, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def save_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Progressive 4:2:0 JFIF, as the released InterHand2.6M frames are."""
    save_image(Image.fromarray(image), path, quality=quality, progressive=True, subsampling="4:2:0")


def save_png(path: Path, image: np.ndarray) -> None:
    save_image(Image.fromarray(image), path, compress_level=3)
