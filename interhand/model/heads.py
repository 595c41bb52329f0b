"""InterNet's heads: two per-hand 3D-heatmap branches, the root-depth head and the hand-type head.

Attribute and `nn.Sequential` index layout equal the original PoseNet's, so that its checkpoint keys
(`pose_net.joint_deconv_1.0.weight`, `pose_net.root_fc.2.bias`, …) load key by key (the original's
`common/nets/module.py`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from interhand.skeleton import JOINTS_PER_HAND

__all__ = ["PoseNet", "soft_argmax_1d", "reset_head_parameters"]

_DECONV_CHANNELS = 256
_FC_HIDDEN = 512


def _deconv_branch(in_channels: int) -> nn.Sequential:
    # Indices 0/3/6 = ConvTranspose2d, 1/4/7 = BatchNorm2d, 2/5/8 = ReLU: the original's key layout.
    layers: list[nn.Module] = []
    for channels_in in (in_channels, _DECONV_CHANNELS, _DECONV_CHANNELS):
        layers += [nn.ConvTranspose2d(channels_in, _DECONV_CHANNELS, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(_DECONV_CHANNELS), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _fc_head(in_channels: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_channels, _FC_HIDDEN), nn.ReLU(inplace=True), nn.Linear(_FC_HIDDEN, outputs))


def soft_argmax_1d(logits: torch.Tensor) -> torch.Tensor:
    """Expected bin index under softmax(logits).

    Args:
        logits: (B, bins) float.

    Returns:
        (B, 1) float, in bins (0 … bins − 1).
    """
    probabilities = F.softmax(logits, dim=1)
    bins = torch.arange(logits.shape[1], device=logits.device, dtype=probabilities.dtype)
    return (probabilities * bins).sum(dim=1, keepdim=True)


def reset_head_parameters(module: nn.Module) -> None:
    """The original head initialisation: (de)conv weights N(0, 0.001), conv bias 0, BN γ=1 β=0, Linear N(0, 0.01)."""
    for child in module.modules():
        if isinstance(child, (nn.ConvTranspose2d, nn.Conv2d)):
            nn.init.normal_(child.weight, std=0.001)
            if child.bias is not None:
                nn.init.zeros_(child.bias)
        elif isinstance(child, nn.BatchNorm2d):
            nn.init.ones_(child.weight)
            nn.init.zeros_(child.bias)
        elif isinstance(child, nn.Linear):
            nn.init.normal_(child.weight, std=0.01)
            nn.init.zeros_(child.bias)


class PoseNet(nn.Module):
    """Heads on the backbone's stride-32 feature map.

    Args:
        in_channels: backbone feature channels (2048 for ResNet-50/101/152, 512 for 18/34; the original
            hard-codes 2048, which breaks 18/34).
        depth_bins: heatmap depth resolution, also the number of root-depth bins (64).
        joints_per_hand: 21.
        heatmap_gain: fixed factor on the heatmap convolutions' output (1: the original). The target peaks at
            255 and Adam moves each weight by about lr per step, so the heatmap's amplitude grows by roughly
            lr × channels per step: ~500 steps at lr 1e-3 before a peak can reach 255. A gain G makes that G×
            sooner without changing the loss or the decoding (argmax); the weights then mean G× less.
    """

    def __init__(self, in_channels: int = 2048, depth_bins: int = 64, joints_per_hand: int = JOINTS_PER_HAND,
                 heatmap_gain: float = 1.0):
        super().__init__()
        self.depth_bins = depth_bins
        self.joints_per_hand = joints_per_hand
        self.heatmap_gain = heatmap_gain
        heatmap_channels = joints_per_hand * depth_bins
        self.joint_deconv_1 = _deconv_branch(in_channels)
        self.joint_conv_1 = nn.Sequential(nn.Conv2d(_DECONV_CHANNELS, heatmap_channels, 1))
        self.joint_deconv_2 = _deconv_branch(in_channels)
        self.joint_conv_2 = nn.Sequential(nn.Conv2d(_DECONV_CHANNELS, heatmap_channels, 1))
        self.root_fc = _fc_head(in_channels, depth_bins)
        self.hand_fc = _fc_head(in_channels, 2)
        reset_head_parameters(self)

    def _heatmap(self, deconv: nn.Module, conv: nn.Module, features: torch.Tensor) -> torch.Tensor:
        hidden = deconv(features)
        if self.heatmap_gain == 1.0:
            logits = conv(hidden)
        else:  # G·(W x + b) = (G·W) x + G·b: the gain scales the 1×1 kernel (256 × 21·D values), not the output
            # (B × 21·D × 64 × 64 values, the largest tensor of the step), in the forward and backward passes alike.
            layer = conv[0]
            logits = F.conv2d(hidden, layer.weight * self.heatmap_gain, layer.bias * self.heatmap_gain)
        batch, _, height, width = logits.shape
        # reshape, not view: under channels_last the conv output is not contiguous in NCHW order.
        return logits.reshape(batch, self.joints_per_hand, self.depth_bins, height, width)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heads on backbone features.

        Args:
            features: (B, C, h, w) float backbone features (h = w = 8 for 256-px input).

        Returns:
            joint_heatmap: (B, 42, D, 8h, 8w) float, axes (joint, z, y, x); right hand 0–20, left 21–41.
            rel_root_depth_bins: (B, 1) float, left-minus-right root depth in bins (0 … D − 1).
            hand_type: (B, 2) float probabilities [p_right, p_left].
        """
        joint_heatmap = torch.cat([self._heatmap(self.joint_deconv_1, self.joint_conv_1, features),
                                   self._heatmap(self.joint_deconv_2, self.joint_conv_2, features)], dim=1)
        pooled = features.mean(dim=(2, 3))
        # float32 for the soft-argmax and the sigmoid: in bf16 (amp) the expected bin would be quantised.
        rel_root_depth_bins = soft_argmax_1d(self.root_fc(pooled).float())
        hand_type = torch.sigmoid(self.hand_fc(pooled).float())
        return joint_heatmap, rel_root_depth_bins, hand_type
