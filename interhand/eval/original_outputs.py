"""The original repository's `main/test.py` outputs → the `image_relative` prediction form (docs/scoring.md, #30).

facebookresearch/InterHand2.6M 5d0e456 `main/test.py` concatenates, over its test loader, `joint_coord` (N, 42, 3):
the 3D heatmap argmax (x, y, z) in the 64³ grid; `rel_root_depth` (N, 1): the root head's soft-argmax in its
64 bins; `hand_type` (N, 2): sigmoid [p_right, p_left]; `inv_trans` (N, 2, 3): the crop patch → original image
affine. `Dataset.evaluate` maps them back as this module does (x, y: grid → 256 px patch → image by inv_trans; z and
the root depth: bins → mm over the 400 mm `bbox_3d_size`), in the order of its `datalist`: the annotation file's
single-hand annotations first, then its interacting ones (`original_datalist_order`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OriginalOutputGeometry", "original_outputs_to_image_relative", "original_datalist_order"]


@dataclass(frozen=True)
class OriginalOutputGeometry:
    """The original `main/config.py` values the outputs are expressed in."""

    input_img_shape: tuple[int, int] = (256, 256)  # (height, width) of the patch, px
    output_hm_shape: tuple[int, int, int] = (64, 64, 64)  # (depth, height, width) bins
    bbox_3d_size: float = 400.0  # mm spanned by the depth axis of the joint heatmap
    bbox_3d_size_root: float = 400.0  # mm spanned by the root depth bins
    output_root_hm_shape: int = 64


def original_outputs_to_image_relative(joint_coord: np.ndarray, rel_root_depth: np.ndarray, hand_type: np.ndarray,
                                       inv_trans: np.ndarray,
                                       geometry: OriginalOutputGeometry = OriginalOutputGeometry()) -> dict:
    """The image_relative fields of the original's test outputs, as its `Dataset.evaluate` computes them.

    Args:
        joint_coord: (N, 42, 3) float, (x, y, z) in the output heatmap grid.
        rel_root_depth: (N, 1) or (N,) float, left minus right wrist depth in root-heatmap bins.
        hand_type: (N, 2) float, [p_right, p_left].
        inv_trans: (N, 2, 3) float, patch px → original-image px.

    Returns:
        {"joints_img_px": (N, 42, 2), "joints_rel_depth_mm": (N, 42), "rel_root_depth_mm": (N,),
        "hand_type_prob": (N, 2)}, float64.
    """
    coord = np.asarray(joint_coord, np.float64)
    depth_bins, height_bins, width_bins = geometry.output_hm_shape
    patch = np.stack([coord[..., 0] / width_bins * geometry.input_img_shape[1],
                      coord[..., 1] / height_bins * geometry.input_img_shape[0], np.ones(coord.shape[:2])], axis=-1)
    joints_img_px = np.einsum("nij,nkj->nki", np.asarray(inv_trans, np.float64), patch)  # trans_point2d per joint
    joints_rel_depth_mm = (coord[..., 2] / depth_bins * 2 - 1) * (geometry.bbox_3d_size / 2)
    root = np.asarray(rel_root_depth, np.float64).reshape(len(coord))
    rel_root_depth_mm = (root / geometry.output_root_hm_shape * 2 - 1) * (geometry.bbox_3d_size_root / 2)
    return {"joints_img_px": joints_img_px, "joints_rel_depth_mm": joints_rel_depth_mm,
            "rel_root_depth_mm": rel_root_depth_mm, "hand_type_prob": np.asarray(hand_type, np.float64)}


def original_datalist_order(annotations: list[dict]) -> np.ndarray:
    """The annotation ids in the order the original's test outputs follow: `InterHand2.6M_<split>_data.json`'s
    "annotations" (COCO keeps their order), single-hand (`right`, `left`) ones first, then `interacting`."""
    single = [int(entry["id"]) for entry in annotations if entry["hand_type"] in ("right", "left")]
    interacting = [int(entry["id"]) for entry in annotations if entry["hand_type"] not in ("right", "left")]
    return np.array(single + interacting, np.int64)
