"""The 2.5D target encoding in heatmap space, and its inverse (the original's `transform_input_to_output_space`,
`common/utils/preprocessing.py`, and its `data/InterHand2.6M/dataset.py`).

Forward (the original's `transform_input_to_output_space`): x, y in input-patch px → heatmap px
(×64/256); each hand's Z relative to its own wrist in mm → one of 64 depth bins over ±200 mm; the
left-minus-right wrist depth → one of 64 bins over ±200 mm. A joint (or the root depth) whose bin
falls outside [0, 64) is invalid. The inverse maps back (the decode step of evaluation).
All functions take any leading batch shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interhand.config import ModelConfig
from interhand.geometry.affine import apply_affine
from interhand.skeleton import block_root_index

__all__ = ["HeatmapGeometry", "heatmap_geometry", "ORIGINAL_GEOMETRY", "joints_to_heatmap_space",
           "rel_root_depth_to_bins", "heatmap_to_patch_xy", "depth_bins_to_rel_mm", "root_bins_to_rel_mm",
           "voxel_to_image"]


@dataclass(frozen=True)
class HeatmapGeometry:
    """The numbers of the 2.5D encoding, under names that say their unit.

    The source of truth is `ModelConfig` (stored in every checkpoint under the original's names); make one
    with `heatmap_geometry(model_config)`, the one place that maps it: `depth_range_mm` is
    `ModelConfig.bbox_3d_size`, `root_range_mm` is `bbox_3d_size_root`, and `root_bins` is `heatmap_size`.
    """

    input_size: int  # square input patch, px
    heatmap_size: int  # x, y and depth bins of the joint heatmaps
    depth_range_mm: float  # ModelConfig.bbox_3d_size: the per-hand relative depth spans ± half of it
    root_bins: int  # the original's output_root_hm_shape
    root_range_mm: float  # ModelConfig.bbox_3d_size_root


def heatmap_geometry(config: ModelConfig) -> HeatmapGeometry:
    """The target encoding a ModelConfig implies (depth and root bins both equal heatmap_size)."""
    return HeatmapGeometry(input_size=config.input_size, heatmap_size=config.heatmap_size,
                           depth_range_mm=config.bbox_3d_size, root_bins=config.heatmap_size,
                           root_range_mm=config.bbox_3d_size_root)


ORIGINAL_GEOMETRY = heatmap_geometry(ModelConfig())  # 256-px patch, 64³ heatmap, ±200 mm


def joints_to_heatmap_space(joints_patch: np.ndarray, joint_valid: np.ndarray, root_joint_index: np.ndarray,
                            geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> tuple[np.ndarray, np.ndarray]:
    """Patch joints → heatmap units, with validity zeroed where the depth bin leaves [0, bins).

    Args:
        joints_patch: (..., 42, 3) u, v input-patch px; Z camera mm.
        joint_valid: (..., 42) 0/1.
        root_joint_index: (..., 2) the two wrists' indices.

    Returns:
        joints_voxel (..., 42, 3) float32 (x, y in heatmap px; z in depth bins) and joint_valid (..., 42) float32.
    """
    joints = np.asarray(joints_patch, dtype=np.float64)
    scale = geometry.heatmap_size / geometry.input_size
    roots = block_root_index(root_joint_index)
    root_depth = np.take_along_axis(joints[..., 2], roots, axis=-1)
    z_bins = ((joints[..., 2] - root_depth) / (geometry.depth_range_mm / 2.0) + 1.0) / 2.0 * geometry.heatmap_size
    voxel = np.stack([joints[..., 0] * scale, joints[..., 1] * scale, z_bins], axis=-1)
    in_range = (z_bins >= 0) & (z_bins < geometry.heatmap_size)
    return voxel.astype(np.float32), (np.asarray(joint_valid) * in_range).astype(np.float32)


def rel_root_depth_to_bins(rel_root_depth_mm: np.ndarray, root_valid: np.ndarray,
                           geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> tuple[np.ndarray, np.ndarray]:
    """Left-minus-right wrist depth, mm → root bins; validity zeroed outside [0, root_bins)."""
    bins = (np.asarray(rel_root_depth_mm, dtype=np.float64) / (geometry.root_range_mm / 2.0) + 1.0) / 2.0 \
        * geometry.root_bins
    in_range = (bins >= 0) & (bins < geometry.root_bins)
    return bins.astype(np.float32), (np.asarray(root_valid) * in_range).astype(np.float32)


def heatmap_to_patch_xy(xy_heatmap: np.ndarray, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> np.ndarray:
    """(..., 2) heatmap px → input-patch px."""
    return np.asarray(xy_heatmap, dtype=np.float64) * (geometry.input_size / geometry.heatmap_size)


def depth_bins_to_rel_mm(z_bins: np.ndarray, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> np.ndarray:
    """Depth bins → depth relative to the hand's wrist, mm."""
    return (np.asarray(z_bins, dtype=np.float64) / geometry.heatmap_size * 2.0 - 1.0) * (geometry.depth_range_mm / 2.0)


def root_bins_to_rel_mm(root_bins: np.ndarray, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> np.ndarray:
    """Root bins → left-minus-right wrist depth, mm."""
    return (np.asarray(root_bins, dtype=np.float64) / geometry.root_bins * 2.0 - 1.0) * (geometry.root_range_mm / 2.0)


def voxel_to_image(joints_voxel: np.ndarray, patch_to_img: np.ndarray,
                   geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> np.ndarray:
    """The decoder of evaluation and the demo: voxels → original-image px, depth bins → mm.

    Args:
        joints_voxel: (..., J, 3) x, y heatmap px; z depth bins.
        patch_to_img: (..., 2, 3) patch px → original-image px (a batch's `patch_to_flipped_img`).

    Returns:
        (..., J, 3) float64: u, v original-image px; z mm relative to the joint's own wrist.
    """
    voxel = np.asarray(joints_voxel, dtype=np.float64)
    xy_patch = heatmap_to_patch_xy(voxel[..., :2], geometry)
    uv = apply_affine(xy_patch, patch_to_img)
    return np.concatenate([uv, depth_bins_to_rel_mm(voxel[..., 2:3], geometry)], axis=-1)
