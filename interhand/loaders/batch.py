"""What every loader hands the trainer, and the batched target computation they share.

Loaders return coordinates, not heatmaps (the dense target, where needed, is rendered by the model's
loss code). Images stay uint8 until the trainer normalises the whole batch (`images_to_float`).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.loaders.augment import Targets, augment_targets, augmented_patch_affines, params_flip
from interhand.skeleton import in_ih26m_order

__all__ = ["Batch", "targets_from_records", "make_batch", "images_to_float", "to_device"]


class Batch(NamedTuple):
    """One batch, as both loaders produce it (B samples)."""

    image: torch.Tensor  # (B, 3, S, S) uint8 RGB (channels_last strides from DALI)
    joints_voxel: torch.Tensor  # (B, 42, 3) float32: x, y heatmap px; z depth bin
    joint_valid: torch.Tensor  # (B, 42) float32
    rel_root_depth_bins: torch.Tensor  # (B, 1) float32, left-minus-right wrist depth, root bins
    root_valid: torch.Tensor  # (B, 1) float32
    hand_type: torch.Tensor  # (B, 2) float32 [right, left]
    hand_type_valid: torch.Tensor  # (B, 1) float32
    patch_to_flipped_img: torch.Tensor  # (B, 2, 3) float32, patch px → flipped-image px (`interhand.geometry.affine`)
    colour: torch.Tensor  # (B, 3) float32 per-channel factors, applied by images_to_float
    keys: tuple[str, ...]  # sample keys (manifest `key`); empty strings when not requested
    params: torch.Tensor | None = None  # (B, 8) float32 augmentation: shift x, y, scale, rot_deg, flip, colour r, g, b


def targets_from_records(fields: dict[str, np.ndarray], params: np.ndarray, box: str = "gt",
                         geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> tuple[Targets, np.ndarray]:
    """Targets and `patch_to_flipped_img` affines of a batch from its `.ann` fields and (B, 8) augmentation
    parameters."""
    bbox = fields["bbox"] if box == "gt" else fields["rootnet_bbox"]
    width = fields["image_size_px"][:, 0]
    _, flipped_img_to_patch, patch_to_flipped_img = augmented_patch_affines(bbox, width, params, geometry.input_size)
    roots = fields["root_joint_index"].astype(np.int64)
    supervised = in_ih26m_order(roots)  # STB/RHD leave the relative root depth 0
    targets = augment_targets(fields["joints_img"], fields["joint_valid"], fields["hand_type_onehot"], roots, width,
                              flipped_img_to_patch, params_flip(params), supervised, geometry)
    return targets, patch_to_flipped_img.astype(np.float32)


def make_batch(images_nhwc: torch.Tensor, targets: Targets, hand_type_valid: np.ndarray,
               patch_to_flipped_img: np.ndarray, colour: np.ndarray, keys: Sequence[str],
               params: np.ndarray | None = None) -> Batch:
    """Assemble a Batch; `images_nhwc` is (B, S, S, 3) uint8 on any device (permuted, not copied)."""
    def tensor(array) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    return Batch(images_nhwc.permute(0, 3, 1, 2), tensor(targets.joints_voxel), tensor(targets.joint_valid),
                 tensor(targets.rel_root_depth_bins), tensor(targets.root_valid), tensor(targets.hand_type),
                 tensor(np.asarray(hand_type_valid).reshape(-1, 1)), tensor(patch_to_flipped_img),
                 tensor(np.asarray(colour).reshape(-1, 3)), tuple(keys), None if params is None else tensor(params))


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`tensor` on `device`, without making the host wait for the GPU: a copy from pageable host memory waits for
    the work queued before it, so a CPU tensor bound for a GPU goes through page-locked memory first (torch's
    caching host allocator: a host-side copy) and its copy to the GPU is only queued."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def images_to_float(image: torch.Tensor, colour: torch.Tensor | None = None,
                    device: torch.device | str | None = None,
                    memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """(B, 3, S, S) uint8 → float32 in [0, 1] on `device`, with the per-channel colour augmentation.

    The original multiplies the float patch by the colour factors, clips to [0, 255] and divides by 255
    (ToTensor, no mean/std): one fused multiply and clamp on the whole batch here. The result is laid out in
    `memory_format` (the model's) by the same copy that converts it: the loaders' patches are HWC
    (channels_last strides), and an NCHW network fed channels_last input makes weight gradients whose strides
    are not DDP's bucket views ("Grad strides do not match bucket view strides": a copy per step).
    """
    if device is not None:
        image = to_device(image, device)
    image = image.to(torch.float32, memory_format=memory_format)
    if colour is None:
        return image.div_(255.0)
    factors = to_device(colour, image.device).float().reshape(-1, 3, 1, 1) / 255.0
    return image.mul_(factors).clamp_(0.0, 1.0)
