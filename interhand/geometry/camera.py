"""Pinhole camera maths in the InterHand2.6M conventions (the camera files as the original's
`data/InterHand2.6M/dataset.py` reads them; its `common/utils/transforms.py`).

World and camera coordinates are in millimetres; `camrot` is the world→camera rotation R and `campos`
the camera centre in world coordinates, so X_cam = R · (X_world − campos). Camera axes: x right,
y down, z forward. Pixels: u = X/Z·fx + cx, v = Y/Z·fy + cy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["world_to_camera", "camera_to_pixel", "pixel_to_camera", "look_at_rotation"]

# The original adds 1e-8 to Z before dividing (utils/transforms.py cam2pixel); we keep it so that
# projections agree with the original to the last bit of float32.
_DEPTH_EPSILON = 1e-8


def world_to_camera(joints_world_mm: np.ndarray, camrot: np.ndarray, campos_mm: np.ndarray) -> np.ndarray:
    """(N, 3) world mm → (N, 3) camera mm."""
    return (np.asarray(joints_world_mm) - np.asarray(campos_mm).reshape(1, 3)) @ np.asarray(camrot).T


def camera_to_pixel(joints_cam_mm: np.ndarray, focal: np.ndarray, princpt: np.ndarray,
                    depth_epsilon: float = _DEPTH_EPSILON) -> np.ndarray:
    """(..., N, 3) camera mm → (..., N, 2) image px (u, v) (the original's cam2pixel).

    `focal` and `princpt` are (..., 2): one camera per leading index (a batch), or (2,) for all points.
    `depth_epsilon`: added to Z before dividing; 0 for a plain pinhole (scoring a predicted camera pose, where the
    original has no projection to agree with).
    """
    joints_cam_mm = np.asarray(joints_cam_mm)
    depth = joints_cam_mm[..., 2:3] + depth_epsilon
    return joints_cam_mm[..., :2] / depth * np.asarray(focal)[..., None, :] + np.asarray(princpt)[..., None, :]


def pixel_to_camera(joints_img: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """(..., N, 3) of (u px, v px, Z mm) → (..., N, 3) camera mm (the original's pixel2cam).

    `focal` and `princpt` are (..., 2): one camera per leading index (a batch), or (2,) for all points.
    """
    joints_img = np.asarray(joints_img)
    depth = joints_img[..., 2:3]
    focal, princpt = np.asarray(focal)[..., None, :], np.asarray(princpt)[..., None, :]
    xy = (joints_img[..., :2] - princpt) / focal * depth
    return np.concatenate([xy, depth], axis=-1)


def look_at_rotation(campos_mm: np.ndarray, target_mm: np.ndarray, down: np.ndarray = (0.0, 1.0, 0.0)) -> np.ndarray:
    """World→camera rotation of a camera at `campos_mm` looking at `target_mm`, image y along `down`.

    Rows are the camera axes in world coordinates: x = y × z keeps the frame right-handed.
    """
    forward = np.asarray(target_mm, dtype=np.float64) - np.asarray(campos_mm, dtype=np.float64)
    z_axis = forward / np.linalg.norm(forward)
    down = np.asarray(down, dtype=np.float64)
    y_axis = down - np.dot(down, z_axis) * z_axis
    norm = np.linalg.norm(y_axis)
    if norm < 1e-6:
        raise ValueError("look_at_rotation: viewing direction is parallel to the 'down' vector")
    y_axis /= norm
    x_axis = np.cross(y_axis, z_axis)
    return np.stack([x_axis, y_axis, z_axis])
