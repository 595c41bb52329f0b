"""The original repository's `main/test.py` outputs → the `image_relative` prediction form (docs/scoring.md, #30).

facebookresearch/InterHand2.6M 5d0e456 `main/test.py` concatenates, over its test loader, `joint_coord` (N, 42, 3):
the 3D heatmap argmax (x, y, z) in the 64³ grid; `rel_root_depth` (N, 1): the root head's soft-argmax in its
64 bins; `hand_type` (N, 2): sigmoid [p_right, p_left]; `inv_trans` (N, 2, 3): the crop patch → original image
affine. `Dataset.evaluate` maps them back as this module does (x, y: grid → 256 px patch → image by inv_trans; z and
the root depth: bins → mm over the 400 mm `bbox_3d_size`), in the order of its `datalist`: the annotation file's
single-hand annotations first, then its interacting ones (`original_datalist_order`).
"""

from __future__ import annotations

import numpy as np

from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry, root_bins_to_rel_mm, voxel_to_image

__all__ = ["original_outputs_to_image_relative", "original_datalist_order"]


def original_outputs_to_image_relative(joint_coord: np.ndarray, rel_root_depth: np.ndarray, hand_type: np.ndarray,
                                       inv_trans: np.ndarray, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> dict:
    """The image_relative fields of the original's test outputs, as its `Dataset.evaluate` computes them: the
    decode of evaluation (`geometry.heatmap.voxel_to_image`, `root_bins_to_rel_mm`) with the original's
    `main/config.py` numbers (`ORIGINAL_GEOMETRY`: 256-px patch, 64³ grid, ±200 mm).

    Args:
        joint_coord: (N, 42, 3) float, (x, y, z) in the output heatmap grid.
        rel_root_depth: (N, 1) or (N,) float, left minus right wrist depth in root-heatmap bins.
        hand_type: (N, 2) float, [p_right, p_left].
        inv_trans: (N, 2, 3) float, patch px → original-image px.

    Returns:
        {"joints_img_px": (N, 42, 2), "joints_rel_depth_mm": (N, 42), "rel_root_depth_mm": (N,),
        "hand_type_prob": (N, 2)}, float64.
    """
    joints = voxel_to_image(joint_coord, inv_trans, geometry)
    root = np.asarray(rel_root_depth, np.float64).reshape(len(joints))
    return {"joints_img_px": joints[..., :2], "joints_rel_depth_mm": joints[..., 2],
            "rel_root_depth_mm": root_bins_to_rel_mm(root, geometry),
            "hand_type_prob": np.asarray(hand_type, np.float64)}


def original_datalist_order(annotations: list[dict]) -> np.ndarray:
    """The annotation ids in the order the original's test outputs follow: `InterHand2.6M_<split>_data.json`'s
    "annotations" (COCO keeps their order), single-hand (`right`, `left`) ones first, then `interacting`."""
    single = [int(entry["id"]) for entry in annotations if entry["hand_type"] in ("right", "left")]
    interacting = [int(entry["id"]) for entry in annotations if entry["hand_type"] not in ("right", "left")]
    return np.array(single + interacting, np.int64)
