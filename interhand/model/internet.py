"""InterNet (Moon et al., ECCV 2020) as the original defines it: ResNet backbone + PoseNet heads.

Submodules are named like the original's (`backbone_net.resnet`, `pose_net`), so state-dict keys equal
the original checkpoint's without the DataParallel `module.` prefix (the original's `main/model.py`).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import nn

from interhand.config import ModelConfig
from interhand.model.backbone import BackboneNet, load_imagenet_weights
from interhand.model.decode import hard_argmax_3d
from interhand.model.heads import PoseNet
from interhand.skeleton import JOINTS_PER_HAND

__all__ = ["InterNet", "InterNetOutput", "build_internet", "prepare_for_device"]


class InterNetOutput(NamedTuple):
    """What InterNet.forward returns; also readable as a mapping (`output["joint_heatmap"]`, `dict(output)`).

    Attributes:
        joint_heatmap: (B, 42, D, D, D) float heatmap, axes (joint, z, y, x), peak ≈ 255 when trained;
            right hand 0–20, left 21–41. bf16 under `amp`.
        rel_root_depth_bins: (B, 1) float, left-minus-right root depth in bins (0 … D − 1); soft-argmax.
        hand_type: (B, 2) float probabilities [p_right, p_left].
    """

    joint_heatmap: torch.Tensor
    rel_root_depth_bins: torch.Tensor
    hand_type: torch.Tensor

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._fields:
                raise KeyError(f"{key!r} is not one of {', '.join(self._fields)}")
            return getattr(self, key)
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._fields

    def items(self):
        return zip(self._fields, self)


class InterNet(nn.Module):
    """The network. Call on images, get heatmaps, root depth and handedness.

    Args:
        config: architecture (resnet_type, heatmap_size) and run options (amp). The original head
            initialisation is applied, and `config.init`'s backbone one; ImageNet weights are loaded only by
            `build_internet`.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.backbone_net = BackboneNet(self.config.resnet_type, self.config.init)
        self.pose_net = PoseNet(self.backbone_net.out_channels, self.config.heatmap_size, JOINTS_PER_HAND,
                                self.config.heatmap_gain)

    def _autocast(self, images: torch.Tensor):
        if not self.config.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=images.device.type, dtype=torch.bfloat16)

    def forward(self, images: torch.Tensor) -> InterNetOutput:
        """Run the network.

        Args:
            images: (B, 3, S, S) float32 RGB in [0, 1] (no mean/std normalisation, as the original),
                S = config.input_size (256): the patch cut by `process_bbox` + `interhand.loaders.augment.patch_affine`.

        Returns:
            InterNetOutput (joint_heatmap (B, 42, 64, 64, 64), rel_root_depth_bins (B, 1), hand_type (B, 2)).
        """
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self._autocast(images):
            features = self.backbone_net(images)
            return InterNetOutput(*self.pose_net(features))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forward without gradients plus the original's test-mode decoding.

        Args:
            images: (B, 3, S, S) float32 RGB in [0, 1].

        Returns:
            dict with `joint_heatmap`, `rel_root_depth_bins`, `hand_type` (as forward) and `joints_voxel`
            (B, 42, 3) float32 (x, y, z) voxels by hard argmax.
        """
        output = dict(self(images).items())
        output["joints_voxel"] = hard_argmax_3d(output["joint_heatmap"].float())
        return output


def build_internet(config: ModelConfig) -> InterNet:
    """A fresh InterNet with the original initialisation, ImageNet backbone weights if `config.pretrained`."""
    model = InterNet(config)
    if config.pretrained:
        load_imagenet_weights(model.backbone_net.resnet, config.pretrained)
    return model


def prepare_for_device(model: InterNet, device: str | torch.device = "cpu", compile_model: bool = True) -> nn.Module:
    """Move the model and apply the config's speed switches (channels_last, torch.compile).

    Returns the module to call: `model` itself, or its compiled wrapper when `config.compile` and `compile_model`
    (parameters and state dict stay those of `model`). Training under DDP passes compile_model=False and
    compiles the DDP-wrapped module instead.
    """
    model = model.to(device)
    if model.config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if model.config.compile and compile_model:
        return torch.compile(model)
    return model
