"""The original's augmentation and 2.5D targets, once, for every loader (the original's `common/utils/preprocessing.py`
and `data/InterHand2.6M/dataset.py`).

`draw_augment_params` is the only random code; everything after it is deterministic, so a parity
test can feed the same `AugmentParams` to the DALI pipeline and to the reference loader.
`augment_targets` is vectorised over a leading batch dimension (the DALI path computes a whole
batch's targets at once); `augment_sample` is the one-sample public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

import cv2
import numpy as np

from interhand.geometry import affine
from interhand.geometry.flip import flip_joints
from interhand.geometry.heatmap import (
    ORIGINAL_GEOMETRY,
    HeatmapGeometry,
    joints_to_heatmap_space,
    rel_root_depth_to_bins,
)
from interhand.skeleton import HAND_TYPE_VECTORS, NUM_JOINTS, in_ih26m_order

__all__ = ["AugmentParams", "IDENTITY", "PARAMS_LENGTH", "PARAM_SHIFT_X", "PARAM_SHIFT_Y", "PARAM_SCALE",
           "PARAM_ROT_DEG", "PARAM_FLIP", "PARAM_COLOUR", "params_flip", "params_to_array", "params_from_array",
           "draw_augment_params", "draw_augment_params_array", "params_from_uniforms", "counter_params", "patch_window",
           "patch_affine", "augmented_patch_affines", "augment_targets",
           "warp_patch", "apply_colour", "augment_sample", "AugmentedSample", "Targets", "hand_type_vector"]

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


PARAMS_LENGTH = 8  # the array form: shift_x, shift_y, scale, rot_deg, flip, colour r, g, b
# Its columns, named as AugmentParams' fields (index a (8,) row or the last axis of a (B, 8) array).
PARAM_SHIFT_X, PARAM_SHIFT_Y, PARAM_SCALE, PARAM_ROT_DEG, PARAM_FLIP = 0, 1, 2, 3, 4
PARAM_COLOUR = slice(5, 8)  # r, g, b factors


def params_flip(params: np.ndarray) -> np.ndarray:
    """bool (...,): which samples of a (..., 8) parameter array are mirrored (the column holds 0.0 or 1.0)."""
    return np.asarray(params)[..., PARAM_FLIP] > 0.5


def params_to_array(params: AugmentParams) -> np.ndarray:
    """(8,) float32, the form batches and the DALI pipeline carry."""
    return np.array([params.shift_x, params.shift_y, params.scale, params.rot_deg, float(params.flip),
                     *params.colour], dtype=np.float32)


def params_from_array(values: np.ndarray) -> AugmentParams:
    v = np.asarray(values, dtype=np.float64).reshape(PARAMS_LENGTH)
    return AugmentParams(float(v[PARAM_SHIFT_X]), float(v[PARAM_SHIFT_Y]), float(v[PARAM_SCALE]),
                         float(v[PARAM_ROT_DEG]), bool(params_flip(v)), tuple(float(c) for c in v[PARAM_COLOUR]))


UNIFORMS_PER_SAMPLE = 11  # shift 2, scale normal 2, rotation normal 2, rotation gate 1, flip 1, colour 3


def params_from_uniforms(uniforms: np.ndarray) -> np.ndarray:
    """(count, 11) uniforms in [0, 1) → (count, 8) float32 parameters from the original's distributions:
    shift U(±0.15), scale 1 + 0.25·clip(N, ±1), rotation 45°·clip(N, ±2) with p = 0.6, flip p = 0.5,
    colour U(0.8, 1.2) per channel. The normals come from Box–Muller pairs."""
    u = np.asarray(uniforms, dtype=np.float64).reshape(-1, UNIFORMS_PER_SAMPLE)

    def normal(first: int) -> np.ndarray:
        return np.sqrt(-2.0 * np.log1p(-u[:, first])) * np.cos(2.0 * np.pi * u[:, first + 1])

    shift = _SHIFT * (2.0 * u[:, 0:2] - 1.0)
    scale = 1.0 + _SCALE * np.clip(normal(2), -1.0, 1.0)
    rotation = np.where(u[:, 6] < _ROTATION_PROBABILITY, _ROTATION_DEG * np.clip(normal(4), -2.0, 2.0), 0.0)
    flip = (u[:, 7] < _FLIP_PROBABILITY).astype(np.float64)
    colour = 1.0 - _COLOUR + 2.0 * _COLOUR * u[:, 8:11]
    return np.column_stack([shift, scale, rotation, flip, colour]).astype(np.float32)


def draw_augment_params_array(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 8) float32 parameters drawn with `rng` (distributions: `params_from_uniforms`)."""
    return params_from_uniforms(rng.random((count, UNIFORMS_PER_SAMPLE)))


_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_params(seed: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """(len(indices), 8) parameters of samples `indices` in `epoch`: a pure function of (seed, epoch, index),
    so a sample is augmented alike whatever the batch, worker or rank that loads it (a counter-based draw:
    splitmix64 of the counter, vectorised, ~1 µs a sample)."""
    indices = np.asarray(indices, dtype=np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        stream = _splitmix64(_splitmix64(np.array([seed], dtype=np.uint64)) ^ np.uint64(epoch))
        counters = indices[:, None] * np.uint64(UNIFORMS_PER_SAMPLE) + np.arange(UNIFORMS_PER_SAMPLE, dtype=np.uint64)
        bits = _splitmix64(_splitmix64(counters ^ stream))
    return params_from_uniforms((bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53)


def draw_augment_params(rng: np.random.Generator) -> AugmentParams:
    """One sample's parameters (see `draw_augment_params_array`)."""
    return params_from_array(draw_augment_params_array(rng, 1)[0])


def patch_window(bbox_xywh: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The augmented source window of a batch: the box, shifted by (shift_x·w, shift_y·h) and scaled by `scale`.

    Args:
        bbox_xywh: (B, 4) boxes, original-image px.
        params: (B, 8) parameter arrays (`params_to_array`).

    Returns:
        centre_xy (B, 2) and window_wh (B, 2), unflipped original-image px
        (`interhand.geometry.affine.window_to_patch_affines`).
    """
    box = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    values = np.asarray(params, dtype=np.float64).reshape(-1, PARAMS_LENGTH)
    centre_xy = np.stack([box[:, 0] + box[:, 2] * (values[:, PARAM_SHIFT_X] + 0.5),
                          box[:, 1] + box[:, 3] * (values[:, PARAM_SHIFT_Y] + 0.5)], -1)
    return centre_xy, box[:, 2:4] * values[:, PARAM_SCALE, None]


def augmented_patch_affines(bbox_xywh: np.ndarray, image_width: np.ndarray, params: np.ndarray,
                            input_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The patch's affine maps for a batch of boxes and augmentations: `patch_window`, then the geometry's
    `window_to_patch_affines` (img_to_patch, flipped_img_to_patch, patch_to_flipped_img, each (B, 2, 3))."""
    values = np.asarray(params, dtype=np.float64).reshape(-1, PARAMS_LENGTH)
    centre_xy, window_wh = patch_window(bbox_xywh, values)
    return affine.window_to_patch_affines(centre_xy, window_wh, values[:, PARAM_ROT_DEG], params_flip(values),
                                          image_width, input_size)


def patch_affine(bbox_xywh: np.ndarray, image_width: float, params: AugmentParams,
                 input_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`augmented_patch_affines` for one sample: (img_to_patch, flipped_img_to_patch, patch_to_flipped_img), each
    (2, 3)."""
    affines = augmented_patch_affines(np.asarray(bbox_xywh)[None], np.array([image_width]),
                                      params_to_array(params)[None], input_size)
    return tuple(matrix[0] for matrix in affines)


class Targets(NamedTuple):
    """Training targets in heatmap space (leading batch dims as the inputs)."""

    joints_voxel: np.ndarray  # (..., 42, 3) float32: x, y heatmap px, z depth bin
    joint_valid: np.ndarray  # (..., 42) float32
    rel_root_depth_bins: np.ndarray  # (..., 1) float32, left-minus-right wrist depth, root bins
    root_valid: np.ndarray  # (..., 1) float32
    hand_type: np.ndarray  # (..., 2) float32 [right, left]


def augment_targets(joints_img: np.ndarray, joint_valid: np.ndarray, hand_type: np.ndarray,
                    root_joint_index: np.ndarray, image_width: np.ndarray, flipped_img_to_patch: np.ndarray,
                    flip: np.ndarray, root_depth_supervised: np.ndarray,
                    geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> Targets:
    """The original's joint path of `augmentation` + `transform_input_to_output_space`, vectorised.

    Args:
        joints_img: (..., 42, 3) u, v original-image px; Z camera mm.
        joint_valid: (..., 42) 0/1 (root-masked, as stored in the shards).
        hand_type: (..., 2) [right, left] 0/1.
        root_joint_index: (..., 2) [right wrist, left wrist] indices.
        image_width: (...,) px.
        flipped_img_to_patch: (..., 2, 3) the original's `trans` (flipped-image px → patch px), from `patch_affine`.
        flip: (...,) bool.
        root_depth_supervised: (...,) bool; False for single-hand datasets (STB/RHD), whose relative root
            depth and its validity are always 0.
    """
    joints, valid, hand = flip_joints(joints_img, joint_valid, hand_type, image_width, flip)
    uv = affine.apply_affine(joints[..., :2], flipped_img_to_patch)
    size = geometry.input_size
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < size) & (uv[..., 1] >= 0) & (uv[..., 1] < size)
    valid = valid * inside
    joints_patch = np.concatenate([uv, joints[..., 2:3]], axis=-1)
    roots = np.asarray(root_joint_index).astype(np.int64)
    right_root, left_root = roots[..., 0:1], roots[..., 1:2]
    depth = joints_patch[..., 2]
    rel_root_depth_mm = np.take_along_axis(depth, left_root, -1) - np.take_along_axis(depth, right_root, -1)
    both_hands = (hand[..., 0] * hand[..., 1] == 1)[..., None]
    root_valid = np.where(both_hands,
                          np.take_along_axis(valid, right_root, -1) * np.take_along_axis(valid, left_root, -1), 0.0)
    supervised = np.asarray(root_depth_supervised, dtype=bool)[..., None]
    rel_root_depth_mm = np.where(supervised, rel_root_depth_mm, 0.0)
    root_valid = np.where(supervised, root_valid, 0.0)
    joints_voxel, joint_valid_out = joints_to_heatmap_space(joints_patch, valid, roots, geometry)
    rel_root_bins, root_valid_out = rel_root_depth_to_bins(rel_root_depth_mm, root_valid, geometry)
    if not np.all(supervised):  # STB/RHD: the original passes zeros through the encoding unchanged
        rel_root_bins = np.where(supervised, rel_root_bins, 0.0).astype(np.float32)
        root_valid_out = np.where(supervised, root_valid_out, 0.0).astype(np.float32)
    return Targets(joints_voxel, joint_valid_out, rel_root_bins, root_valid_out, hand.astype(np.float32))


def warp_patch(image: np.ndarray, img_to_patch: np.ndarray, input_size: int = 256) -> np.ndarray:
    """Bilinear warp of an (H, W, 3) uint8 image to the (S, S, 3) uint8 patch, black outside the image.

    OpenCV's warpAffine is the original's own warp (INTER_LINEAR, constant black border), with the same
    pixel-centre convention as our matrices; it is 5× faster here than Pillow's transform (0.27 vs 1.4 ms).
    """
    return cv2.warpAffine(image, np.asarray(img_to_patch, dtype=np.float64), (input_size, input_size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def apply_colour(patch: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """Per-channel factors, clipped to [0, 255], rounded back to uint8."""
    if colour == (1.0, 1.0, 1.0):
        return patch
    scaled = patch.astype(np.float32) * np.asarray(colour, dtype=np.float32)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def hand_type_vector(hand_type: str | np.ndarray) -> np.ndarray:
    if isinstance(hand_type, str):
        if hand_type not in HAND_TYPE_VECTORS:
            raise ValueError(f"hand_type={hand_type!r} is not one of {', '.join(HAND_TYPE_VECTORS)}")
        return np.array(HAND_TYPE_VECTORS[hand_type], dtype=np.float32)
    return np.asarray(hand_type, dtype=np.float32).reshape(2)


class AugmentedSample(NamedTuple):
    image: np.ndarray  # (S, S, 3) uint8 RGB patch
    targets: Targets
    hand_type_valid: np.ndarray  # (1,) float32
    patch_to_flipped_img: np.ndarray  # (2, 3) float32, patch px → flipped-image px (`interhand.geometry.affine`)


def augment_sample(image: np.ndarray, record: Mapping, params: AugmentParams = IDENTITY,
                   bbox: np.ndarray | None = None, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY,
                   colour: bool = True) -> AugmentedSample:
    """Augment one decoded sample exactly as the original does.

    Args:
        image: (H, W, 3) uint8 RGB, the decoded source image.
        record: the sample's shard record: the `.json` dict or the decoded `.ann` fields. Uses
            `joints_img`, `joint_valid`, `hand_type`, `hand_type_valid`, `root_joint_index`, `bbox`.
        params: the augmentation; IDENTITY for evaluation.
        bbox: (4,) a box to use instead of the record's processed GT box (e.g. RootNet's at test time).
        colour: apply the colour factors here; the loaders pass False and apply them to the whole batch
            while normalising (`interhand.loaders.batch.images_to_float`), in float as the original does.
    """
    roots = np.asarray(record["root_joint_index"], dtype=np.int64)
    width = image.shape[1]
    box = np.asarray(record["bbox"] if bbox is None else bbox, dtype=np.float64)
    img_to_patch, flipped_img_to_patch, patch_to_flipped_img = patch_affine(box, width, params, geometry.input_size)
    supervised = bool(in_ih26m_order(roots))  # STB/RHD have no root depth
    targets = augment_targets(np.asarray(record["joints_img"], dtype=np.float64),
                              np.asarray(record["joint_valid"], dtype=np.float64).reshape(NUM_JOINTS),
                              hand_type_vector(record["hand_type"]), roots, width, flipped_img_to_patch, params.flip,
                              supervised, geometry)
    patch = warp_patch(image, img_to_patch, geometry.input_size)
    if colour:
        patch = apply_colour(patch, params.colour)
    hand_type_valid = np.asarray(record["hand_type_valid"], dtype=np.float32).reshape(1)
    return AugmentedSample(patch, targets, hand_type_valid, patch_to_flipped_img.astype(np.float32))
