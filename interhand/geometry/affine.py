"""2×3 affine maps between original-image pixels and the network's input patch (interhand_format.md §4).

Coordinates follow the original (OpenCV) convention: pixel i has its centre at coordinate i. A matrix
maps source points to destination points: [u', v'] = M · [u, v, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_img_to_patch", "invert_affine", "apply_affine", "affine_from_points"]


def _rotate(vector_xy: np.ndarray, rot_rad: float) -> np.ndarray:
    cos, sin = np.cos(rot_rad), np.sin(rot_rad)
    return np.array([vector_xy[0] * cos - vector_xy[1] * sin, vector_xy[0] * sin + vector_xy[1] * cos])


def affine_from_points(src_xy: np.ndarray, dst_xy: np.ndarray) -> np.ndarray:
    """The affine map sending three source points onto three destination points.

    Args:
        src_xy: (3, 2) source points, px; must not be collinear.
        dst_xy: (3, 2) destination points, px.

    Returns:
        (2, 3) float64 matrix M with dst = M · [src, 1].
    """
    src = np.concatenate([np.asarray(src_xy, dtype=np.float64), np.ones((3, 1))], axis=1)
    dst = np.asarray(dst_xy, dtype=np.float64)
    return np.linalg.solve(src, dst).T


def affine_img_to_patch(center_xy, box_wh, scale: float, rot_deg: float, patch_size) -> np.ndarray:
    """2×3 matrix, original-image px → patch px (forward). Invert with invert_affine().

    The original's gen_trans_from_patch_cv: the box centre goes to the patch centre, the box's (rotated)
    half-height vector to the patch's half-height and its (rotated) half-width vector to the patch's
    half-width, with the box first scaled by `scale`.

    Args:
        center_xy: (2,) box centre, original-image px.
        box_wh: (2,) box width and height, original-image px.
        scale: the source window is `box_wh * scale` (augmentation scale; 1 at test time).
        rot_deg: rotation of the source window, degrees (the original's sign convention).
        patch_size: int for a square patch, or (width, height), px.

    Returns:
        (2, 3) float64 matrix.
    """
    patch_w, patch_h = (patch_size, patch_size) if np.isscalar(patch_size) else patch_size
    center = np.asarray(center_xy, dtype=np.float64).reshape(2)
    src_w, src_h = (float(value) * scale for value in np.asarray(box_wh).reshape(2))
    rot_rad = np.pi * rot_deg / 180.0
    src = np.stack([center,
                    center + _rotate(np.array([0.0, src_h * 0.5]), rot_rad),
                    center + _rotate(np.array([src_w * 0.5, 0.0]), rot_rad)])
    dst_center = np.array([patch_w * 0.5, patch_h * 0.5])
    dst = np.stack([dst_center, dst_center + [0.0, patch_h * 0.5], dst_center + [patch_w * 0.5, 0.0]])
    return affine_from_points(src, dst)


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
