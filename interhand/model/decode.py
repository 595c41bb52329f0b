"""From network outputs to coordinates: the hard argmax, and the demo's decoding (the original's `Dataset.evaluate` in
`data/InterHand2.6M/dataset.py`, and `demo/demo.py`).

The voxel → image px and bin → mm decoder itself is `interhand.geometry.heatmap.voxel_to_image` (one
place, shared with the loaders' target encoding and with evaluation).
"""

from __future__ import annotations

import numpy as np
import torch

from interhand.geometry.heatmap import heatmap_geometry, root_bins_to_rel_mm, voxel_to_image

__all__ = ["hard_argmax_3d", "decode_joints_img"]


def hard_argmax_3d(heatmap: torch.Tensor) -> torch.Tensor:
    """Integer voxel of each joint's maximum, as the original's test mode.

    Ties go to the smallest x, then the smallest y, then the smallest z: the original reduces over depth,
    then height, then width, each time keeping the first maximum, which is this order.

    Args:
        heatmap: (B, J, D, H, W) float, axes (z, y, x).

    Returns:
        (B, J, 3) float32 (x, y, z) in voxels.
    """
    batch, joints, depth, height, width = heatmap.shape
    # Flatten in (x, y, z) order so that argmax's first-maximum rule breaks ties like the original.
    index = heatmap.permute(0, 1, 4, 3, 2).reshape(batch, joints, -1).argmax(dim=-1)
    x = index // (height * depth)
    y = (index // depth) % height
    z = index % depth
    return torch.stack([x, y, z], dim=-1).float()


def decode_joints_img(joints_voxel: np.ndarray, rel_root_depth_bins: float, patch_to_img: np.ndarray,
                      config) -> np.ndarray:
    """The demo's decoding: joints in original-image px, z in mm relative to the right-hand root.

    Args:
        joints_voxel: (42, 3) (x, y, z) voxels from `hard_argmax_3d`, one sample.
        rel_root_depth_bins: left-minus-right root depth, bins.
        patch_to_img: (2, 3) patch px → original-image px.
        config: a ModelConfig (input_size, heatmap_size, bbox_3d_size, bbox_3d_size_root).

    Returns:
        (42, 3) float64: u, v in original-image px; z in mm, right root at 0, left hand shifted by the
        decoded root depth (no intrinsics or absolute depth: not metric in x, y).
    """
    geometry = heatmap_geometry(config)
    joints = voxel_to_image(joints_voxel, patch_to_img, geometry)
    joints_per_hand = joints.shape[0] // 2
    joints[joints_per_hand:, 2] += root_bins_to_rel_mm(float(rel_root_depth_bins), geometry)
    return joints
