"""InterNet: ResNet backbone, 2.5D heatmap heads, root depth, handedness, and the original losses.

Stable API for other projects: `load_checkpoint(path) -> InterNet` (ours or the original's
`snapshot_N.pth.tar`), `model(images)` and `model.predict(images)`.
"""

from interhand.model.backbone import BackboneNet, ResNet, load_imagenet_weights
from interhand.model.decode import decode_joints_img, hard_argmax_3d
from interhand.model.heads import PoseNet
from interhand.model.internet import InterNet, InterNetOutput, build_internet, prepare_for_device
from interhand.model.losses import (
    hand_type_loss,
    internet_losses,
    joint_heatmap_loss,
    joint_heatmap_loss_dense,
    rel_root_depth_loss,
)
from interhand.model.original_checkpoint import load_checkpoint, save_checkpoint
from interhand.model.targets import render_joint_heatmaps

__all__ = [
    "InterNet",
    "InterNetOutput",
    "build_internet",
    "prepare_for_device",
    "load_checkpoint",
    "save_checkpoint",
    "BackboneNet",
    "ResNet",
    "PoseNet",
    "load_imagenet_weights",
    "render_joint_heatmaps",
    "joint_heatmap_loss",
    "joint_heatmap_loss_dense",
    "rel_root_depth_loss",
    "hand_type_loss",
    "internet_losses",
    "hard_argmax_3d",
    "decode_joints_img",
]
