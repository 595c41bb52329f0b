"""The one 3D Gaussian heatmap target (the original's `Model.render_gaussian_heatmap`, `main/model.py`).

Loaders hand over joint coordinates in voxels; training renders targets here (or, with the lean loss,
never renders them: the Gaussian is a product of three 1-D Gaussians, see losses.py).
"""

from __future__ import annotations

import torch

__all__ = ["HEATMAP_PEAK", "axis_gaussians", "render_joint_heatmaps"]

# The original multiplies its unit-peak Gaussian by 255; released checkpoints output that scale.
HEATMAP_PEAK = 255.0


def axis_gaussians(joints_voxel: torch.Tensor, sigma: float,
                   heatmap_size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three 1-D factors exp(−(i − c)² / (2σ²)) over integer voxel centres i = 0 … size − 1.

    Args:
        joints_voxel: (B, J, 3) float, (x, y, z) in the heatmap grid, voxels.
        sigma: Gaussian std, voxels.
        heatmap_size: voxels per axis.

    Returns:
        (gauss_x, gauss_y, gauss_z), each (B, J, heatmap_size) in the dtype of `joints_voxel`, unit peak.
    """
    grid = torch.arange(heatmap_size, device=joints_voxel.device, dtype=joints_voxel.dtype)
    offsets = (grid - joints_voxel[..., None]) / sigma          # (B, J, 3, size)
    gaussians = torch.exp(-0.5 * offsets * offsets)
    return gaussians[:, :, 0], gaussians[:, :, 1], gaussians[:, :, 2]


def render_joint_heatmaps(joints_voxel: torch.Tensor, valid: torch.Tensor | None, sigma: float,
                          heatmap_size: int = 64, peak: float = HEATMAP_PEAK) -> torch.Tensor:
    """Dense target: peak · exp(−(Δx² + Δy² + Δz²) / (2σ²)) at every voxel.

    Args:
        joints_voxel: (B, J, 3) float, (x, y, z) in the heatmap grid, voxels.
        valid: (B, J) 0/1 float or bool, or None. Invalid joints get an all-zero heatmap; the losses mask
            them anyway, so this changes no loss value.
        sigma: Gaussian std, voxels (2.5 in the original).
        heatmap_size: voxels per axis (64).
        peak: value at the centre (255 in the original).

    Returns:
        (B, J, size, size, size) in the dtype of `joints_voxel`, axes (z, y, x).
    """
    gauss_x, gauss_y, gauss_z = axis_gaussians(joints_voxel, sigma, heatmap_size)
    if valid is not None:
        gauss_z = gauss_z * valid.to(gauss_z.dtype)[..., None]
    plane_zy = (gauss_z * peak)[..., :, None] * gauss_y[..., None, :]
    return plane_zy[..., None] * gauss_x[..., None, None, :]
