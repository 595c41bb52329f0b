"""Bounding boxes in original-image pixels, [x_min, y_min, width, height] (the original's `process_bbox`,
`common/utils/preprocessing.py`)."""

from __future__ import annotations

import numpy as np

__all__ = ["process_bbox", "process_bbox_float32"]

# x1.25 enlargement matches the original process_bbox; changing it invalidates released checkpoints.
_ENLARGE = 1.25


def process_bbox(bbox_xywh: np.ndarray, aspect_ratio: float = 1.0, enlarge: float = _ENLARGE) -> np.ndarray:
    """The original's box processing: keep the centre, grow the short side to `aspect_ratio`, scale by 1.25.

    No clipping to the image, as in the original (its image-shape argument is unused).

    Args:
        bbox_xywh: (4,) [x_min, y_min, width, height], original-image px.
        aspect_ratio: target width / height (input patch width / height; 1 for 256×256).
        enlarge: factor applied to both sides after the aspect correction.

    Returns:
        (4,) float64 [x_min, y_min, width, height], original-image px. The input is not modified.
    """
    x_min, y_min, width, height = (float(value) for value in np.asarray(bbox_xywh).reshape(4))
    center_x = x_min + width / 2.0
    center_y = y_min + height / 2.0
    if width > aspect_ratio * height:
        height = width / aspect_ratio
    elif width < aspect_ratio * height:
        width = height * aspect_ratio
    width *= enlarge
    height *= enlarge
    return np.array([center_x - width / 2.0, center_y - height / 2.0, width, height], dtype=np.float64)


def process_bbox_float32(bbox_xywh: np.ndarray) -> np.ndarray:
    """`process_bbox` rounded to float32, as the shards store it. A box beyond float32 once enlarged (a COCO
    box near 3.4e38) comes back with inf, without numpy's overflow warning, for the finite checks to reject.

    Args:
        bbox_xywh: (4,) [x_min, y_min, width, height], original-image px.

    Returns:
        (4,) float32 [x_min, y_min, width, height], original-image px.
    """
    with np.errstate(over="ignore"):
        return process_bbox(bbox_xywh).astype(np.float32)
