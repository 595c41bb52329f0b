"""2×3 affine maps between original-image pixels and the network's input patch (the original's `gen_trans_from_patch_cv`, `common/utils/preprocessing.py`).

The patch's own affine (box + augmentation → matrix) is built in closed form, vectorised, by
`interhand.loaders.augment.patch_affines`; these are the generic helpers.

Coordinates follow the original (OpenCV) convention: pixel i has its centre at coordinate i. A matrix
maps source points to destination points: [u', v'] = M · [u, v, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["invert_affine", "apply_affine"]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as a (2, 3) float64 matrix."""
    full = np.concatenate([np.asarray(matrix, dtype=np.float64).reshape(2, 3), [[0.0, 0.0, 1.0]]], axis=0)
    return np.linalg.inv(full)[:2]


def apply_affine(points_xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map points through a (2, 3) affine matrix.

    Args:
        points_xy: (N, 2) points, px in the matrix's source frame.
        matrix: (2, 3) affine matrix.

    Returns:
        (N, 2) float64 points in the destination frame, px.
    """
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    matrix = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    return points @ matrix[:, :2].T + matrix[:, 2]
