"""The original's augmentation and 2.5D targets, once, for every loader (interhand_format.md §2, §4).

`draw_augment_params` is the only random code; everything after it is deterministic, so a parity
test can feed the same `AugmentParams` to the DALI pipeline and to the reference loader.
`augment_targets` is vectorised over a leading batch dimension (the DALI path computes a whole
batch's targets at once); `augment_sample` is the one-sample public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np
from PIL import Image

from interhand.geometry.affine import affine_img_to_patch, invert_affine
from interhand.geometry.flip import flip_joints, flip_matrix
from interhand.geometry.heatmap import (ORIGINAL_GEOMETRY, HeatmapGeometry, joints_to_heatmap_space,
                                        rel_root_depth_to_bins)

__all__ = ["AugmentParams", "IDENTITY", "draw_augment_params", "patch_affine", "augment_targets", "warp_patch",
           "apply_colour", "augment_sample", "AugmentedSample", "Targets", "hand_type_vector"]

_HAND_TYPE_VECTORS = {"right": (1.0, 0.0), "left": (0.0, 1.0), "interacting": (1.0, 1.0)}
# The original's get_aug_config.
_SHIFT, _SCALE, _ROTATION_DEG, _ROTATION_PROBABILITY, _FLIP_PROBABILITY, _COLOUR = 0.15, 0.25, 45.0, 0.6, 0.5, 0.2


@dataclass(frozen=True)
class AugmentParams:
    """One sample's augmentation, drawn once and applied alike to image and joints."""

    shift_x: float = 0.0  # box centre shift, fraction of the box width
    shift_y: float = 0.0  # fraction of the box height
    scale: float = 1.0  # the source window is the box × scale
    rot_deg: float = 0.0  # degrees, the original's sign convention
    flip: bool = False  # horizontal mirror (turns a right hand into a left one)
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel RGB factors


IDENTITY = AugmentParams()  # evaluation: no augmentation


def draw_augment_params(rng: np.random.Generator) -> AugmentParams:
    """The original's distributions: shift U(±0.15), scale 1 + 0.25·clip(N, ±1), rotation 45°·clip(N, ±2)
    with p = 0.6, flip p = 0.5, colour U(0.8, 1.2) per channel."""
    shift_x, shift_y = rng.uniform(-_SHIFT, _SHIFT, size=2)
    scale = 1.0 + _SCALE * float(np.clip(rng.standard_normal(), -1.0, 1.0))
    rotation = _ROTATION_DEG * float(np.clip(rng.standard_normal(), -2.0, 2.0))
    rot_deg = rotation if rng.random() <= _ROTATION_PROBABILITY else 0.0
    flip = bool(rng.random() <= _FLIP_PROBABILITY)
    colour = tuple(float(c) for c in rng.uniform(1.0 - _COLOUR, 1.0 + _COLOUR, size=3))
    return AugmentParams(float(shift_x), float(shift_y), scale, rot_deg, flip, colour)


def patch_affine(bbox_xywh: np.ndarray, image_width: float, params: AugmentParams,
                 input_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The patch's affine maps for one sample.

    Returns:
        img_to_patch: (2, 3) original (unflipped) image px → patch px, the flip folded in, so the
            unflipped image can be warped directly.
        trans: (2, 3) the original's `trans`: flipped-image px → patch px (equals img_to_patch without flip).
        inv_trans: (2, 3) the original's `inv_trans`: patch px → (flipped) image px.
    """
    x_min, y_min, width, height = (float(v) for v in np.asarray(bbox_xywh).reshape(4))
    # The original shifts the box corner by a fraction of its size, then takes the centre.
    centre_x = x_min + width * params.shift_x + 0.5 * width
    centre_y = y_min + height * params.shift_y + 0.5 * height
    if params.flip:
        centre_x = image_width - centre_x - 1.0
    trans = affine_img_to_patch((centre_x, centre_y), (width, height), params.scale, params.rot_deg, input_size)
    img_to_patch = (np.vstack([trans, [0.0, 0.0, 1.0]]) @ flip_matrix(image_width))[:2] if params.flip else trans
    return img_to_patch, trans, invert_affine(trans)


class Targets(NamedTuple):
    """Training targets in heatmap space (leading batch dims as the inputs)."""

    joint_coord: np.ndarray  # (..., 42, 3) float32: x, y heatmap px, z depth bin
    joint_valid: np.ndarray  # (..., 42) float32
    rel_root_depth: np.ndarray  # (..., 1) float32, root bins
    root_valid: np.ndarray  # (..., 1) float32
    hand_type: np.ndarray  # (..., 2) float32 [right, left]


def augment_targets(joints_img: np.ndarray, joint_valid: np.ndarray, hand_type: np.ndarray,
                    root_joint_index: np.ndarray, image_width: np.ndarray, trans: np.ndarray, flip: np.ndarray,
                    root_depth_supervised: np.ndarray, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> Targets:
    """The original's joint path of `augmentation` + `transform_input_to_output_space`, vectorised.

    Args:
        joints_img: (..., 42, 3) u, v original-image px; Z camera mm.
        joint_valid: (..., 42) 0/1 (root-masked, as stored in the shards).
        hand_type: (..., 2) [right, left] 0/1.
        root_joint_index: (..., 2) [right wrist, left wrist] indices.
        image_width: (...,) px.
        trans: (..., 2, 3) the original's `trans` (flipped-image px → patch px), from `patch_affine`.
        flip: (...,) bool.
        root_depth_supervised: (...,) bool; False for single-hand datasets (STB/RHD), whose relative root
            depth and its validity are always 0.
    """
    joints, valid, hand = flip_joints(joints_img, joint_valid, hand_type, image_width, flip)
    trans = np.asarray(trans, dtype=np.float64)
    uv = np.einsum("...ij,...nj->...ni", trans[..., :2], joints[..., :2]) + trans[..., None, :, 2]
    size = geometry.input_size
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < size) & (uv[..., 1] >= 0) & (uv[..., 1] < size)
    valid = valid * inside
    joints_patch = np.concatenate([uv, joints[..., 2:3]], axis=-1)
    roots = np.asarray(root_joint_index).astype(np.int64)
    right_root, left_root = roots[..., 0:1], roots[..., 1:2]
    depth = joints_patch[..., 2]
    rel_root = np.take_along_axis(depth, left_root, -1) - np.take_along_axis(depth, right_root, -1)
    both_hands = (hand[..., 0] * hand[..., 1] == 1)[..., None]
    root_valid = np.where(both_hands, np.take_along_axis(valid, right_root, -1) * np.take_along_axis(valid, left_root, -1), 0.0)
    supervised = np.asarray(root_depth_supervised, dtype=bool)[..., None]
    rel_root, root_valid = np.where(supervised, rel_root, 0.0), np.where(supervised, root_valid, 0.0)
    joint_coord, joint_valid_out = joints_to_heatmap_space(joints_patch, valid, roots, geometry)
    rel_root_bins, root_valid_out = rel_root_depth_to_bins(rel_root, root_valid, geometry)
    if not np.all(supervised):  # STB/RHD: the original passes zeros through the encoding unchanged
        rel_root_bins = np.where(supervised, rel_root_bins, 0.0).astype(np.float32)
        root_valid_out = np.where(supervised, root_valid_out, 0.0).astype(np.float32)
    return Targets(joint_coord, joint_valid_out, rel_root_bins, root_valid_out, hand.astype(np.float32))


def warp_patch(image: np.ndarray, img_to_patch: np.ndarray, input_size: int = 256) -> np.ndarray:
    """Bilinear warp of an (H, W, 3) uint8 image to the (S, S, 3) uint8 patch, black outside the image."""
    patch_to_img = invert_affine(img_to_patch)
    # Our matrices put pixel centres at integer coordinates (OpenCV); Pillow puts them at +0.5, hence
    # T(+0.5) · M · T(−0.5).
    shifted = patch_to_img.copy()
    shifted[:, 2] += 0.5 - 0.5 * (patch_to_img[:, 0] + patch_to_img[:, 1])
    source = Image.fromarray(image)
    warped = source.transform((input_size, input_size), Image.AFFINE, data=tuple(shifted.ravel()),
                              resample=Image.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(warped)


def apply_colour(patch: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """Per-channel factors, clipped to [0, 255], rounded back to uint8."""
    if colour == (1.0, 1.0, 1.0):
        return patch
    scaled = patch.astype(np.float32) * np.asarray(colour, dtype=np.float32)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def hand_type_vector(hand_type: str | np.ndarray) -> np.ndarray:
    if isinstance(hand_type, str):
        if hand_type not in _HAND_TYPE_VECTORS:
            raise ValueError(f"hand_type={hand_type!r} is not one of {', '.join(_HAND_TYPE_VECTORS)}")
        return np.array(_HAND_TYPE_VECTORS[hand_type], dtype=np.float32)
    return np.asarray(hand_type, dtype=np.float32).reshape(2)


class AugmentedSample(NamedTuple):
    image: np.ndarray  # (S, S, 3) uint8 RGB patch
    targets: Targets
    hand_type_valid: np.ndarray  # (1,) float32
    inv_trans: np.ndarray  # (2, 3) float32, patch px → original (flipped if params.flip) image px


def augment_sample(image: np.ndarray, record: Mapping, params: AugmentParams = IDENTITY,
                   bbox: np.ndarray | None = None, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> AugmentedSample:
    """Augment one decoded sample exactly as the original does.

    Args:
        image: (H, W, 3) uint8 RGB, the decoded source image.
        record: the sample's shard record: the `.json` dict or the decoded `.ann` fields. Uses
            `joints_img`, `joint_valid`, `hand_type`, `hand_type_valid`, `root_joint_index`, `bbox`.
        params: the augmentation; IDENTITY for evaluation.
        bbox: (4,) a box to use instead of the record's processed GT box (e.g. RootNet's at test time).
    """
    roots = np.asarray(record["root_joint_index"], dtype=np.int64)
    width = image.shape[1]
    box = np.asarray(record["bbox"] if bbox is None else bbox, dtype=np.float64)
    img_to_patch, trans, inv_trans = patch_affine(box, width, params, geometry.input_size)
    supervised = bool(roots[0] == 20 and roots[1] == 41)  # InterHand2.6M order; STB/RHD have no root depth
    targets = augment_targets(np.asarray(record["joints_img"], dtype=np.float64),
                              np.asarray(record["joint_valid"], dtype=np.float64).reshape(42),
                              hand_type_vector(record["hand_type"]), roots, width, trans, params.flip, supervised,
                              geometry)
    patch = apply_colour(warp_patch(image, img_to_patch, geometry.input_size), params.colour)
    hand_type_valid = np.asarray(record["hand_type_valid"], dtype=np.float32).reshape(1)
    return AugmentedSample(patch, targets, hand_type_valid, inv_trans.astype(np.float32))
