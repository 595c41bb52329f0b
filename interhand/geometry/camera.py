"""Pinhole camera maths in the InterHand2.6M conventions (the camera files as the original's
`data/InterHand2.6M/dataset.py` reads them; its `common/utils/transforms.py`).

World and camera coordinates are in millimetres; `camrot` is the world→camera rotation R and `campos`
the camera centre in world coordinates, so X_cam = R · (X_world − campos). Camera axes: x right,
y down, z forward. Pixels: u = X/Z·fx + cx, v = Y/Z·fy + cy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["world_to_camera", "camera_to_pixel", "pixel_to_camera", "back_project", "look_at_rotation"]

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
    joints_cam_mm, focal, princpt = np.asarray(joints_cam_mm), np.asarray(focal), np.asarray(princpt)
    depth = joints_cam_mm[..., 2] + depth_epsilon
    # u and v apart: numpy is ~2x slower on the interleaved (..., 2) / (..., 1) form (same operations, same bits)
    result = np.empty((*np.broadcast_shapes(depth.shape, focal.shape[:-1] + (1,), princpt.shape[:-1] + (1,)), 2),
                      np.result_type(joints_cam_mm, focal, princpt))
    for axis in (0, 1):
        result[..., axis] = joints_cam_mm[..., axis] / depth * focal[..., None, axis] + princpt[..., None, axis]
    return result


def pixel_to_camera(joints_img: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """(..., N, 3) of (u px, v px, Z mm) → (..., N, 3) camera mm (the original's pixel2cam).

    `focal` and `princpt` are (..., 2): one camera per leading index (a batch), or (2,) for all points.
    """
    joints_img = np.asarray(joints_img)
    return back_project(joints_img[..., :2], joints_img[..., 2], focal, princpt)


def back_project(uv_px: np.ndarray, depth_mm: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """(..., N, 2) u, v px and (..., N) Z mm → (..., N, 3) camera mm: `pixel_to_camera` with the depth apart,
    computed into the result (no concatenation: scoring back-projects every joint of a split, #31)."""
    uv_px, depth_mm = np.asarray(uv_px), np.asarray(depth_mm)
    focal, princpt = np.asarray(focal)[..., None, :], np.asarray(princpt)[..., None, :]
    result = np.empty((*np.broadcast_shapes(uv_px.shape, (*depth_mm.shape, 1), princpt.shape, focal.shape)[:-1], 3),
                      np.result_type(uv_px, depth_mm, focal, princpt))
    for axis in (0, 1):  # x and y apart, as camera_to_pixel
        result[..., axis] = (uv_px[..., axis] - princpt[..., axis]) / focal[..., axis] * depth_mm
    result[..., 2] = depth_mm
    return result


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
