"""ResNet backbone (conv1 … layer4, no pooling or fc), our own code with torchvision's module names.

Module names equal torchvision's so that ImageNet weights in torchvision's key format load by name, and
the original checkpoint's `backbone_net.resnet.*` keys load key by key (the original's `common/nets/resnet.py`).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from interhand.config import BACKBONE_INITS

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "BackboneNet", "RESNET_SPECS", "load_imagenet_weights",
           "read_imagenet_weights"]


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shortcut = features if self.downsample is None else self.downsample(features)
        out = self.relu(self.bn1(self.conv1(features)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 convolutions with a residual connection (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # The stride sits on the 3×3 convolution, as in torchvision (ResNet v1.5) and the original.
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shortcut = features if self.downsample is None else self.downsample(features)
        out = self.relu(self.bn1(self.conv1(features)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


# depth -> (block, blocks per stage)
RESNET_SPECS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet trunk: stride 32, `out_channels` feature channels (512 for 18/34, 2048 for 50/101/152)."""

    def __init__(self, depth: int = 50, init: str = "original"):
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"resnet_type={depth!r} is not one of {', '.join(map(str, RESNET_SPECS))}")
        block, blocks_per_stage = RESNET_SPECS[depth]
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), blocks_per_stage), start=1):
            stage_module, in_channels = _make_stage(block, in_channels, planes, blocks, stride=1 if stage == 1 else 2)
            self.add_module(f"layer{stage}", stage_module)
        self.out_channels = in_channels
        self.reset_parameters(init)

    def reset_parameters(self, init: str = "original") -> None:
        """Conv weights N(0, 0.001) ("original"), or He-normal over fan-out ("kaiming", torchvision's default);
        BatchNorm γ=1, β=0.

        The original's N(0, 0.001) is a placeholder that its training always overwrites with ImageNet weights.
        Trained from it, every convolution is followed by BatchNorm, so the loss ignores the weights' scale and
        Adam's steps of ~lr are relative changes of ~lr / 0.001: at lr 1e-3 the backbone is re-drawn every
        step, and runs whose weights differ by 1e-6 part within a few steps. He-normal weights (std 0.02-0.2)
        make the same steps changes of at most ~5 %.
        """
        if init not in BACKBONE_INITS:
            raise ValueError(f"init={init!r} is not one of {', '.join(BACKBONE_INITS)}")
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if init == "kaiming":
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                else:
                    nn.init.normal_(module.weight, mean=0.0, std=0.001)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float → (B, out_channels, H/32, W/32) features."""
        features = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(features))))


def _make_stage(block: type[nn.Module], in_channels: int, planes: int, blocks: int,
                stride: int) -> tuple[nn.Sequential, int]:
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    layers = [block(in_channels, planes, stride, downsample)]
    layers += [block(out_channels, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_channels


class BackboneNet(nn.Module):
    """Holder named like the original's `backbone_net`, so checkpoint keys read `backbone_net.resnet.*`."""

    def __init__(self, depth: int = 50, init: str = "original"):
        super().__init__()
        self.resnet = ResNet(depth, init)

    @property
    def out_channels(self) -> int:
        return self.resnet.out_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float in [0, 1] → (B, out_channels, H/32, W/32) features."""
        return self.resnet(images)


def read_imagenet_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an ImageNet weights file (`torch.load(weights_only=True)`: no code in it is ever run).

    Raises:
        ValueError: one line naming the file: code-bearing objects, not a torch file, truncated, not tensors.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = re.search(r"(unsupported GLOBAL \S+|Unsupported global: GLOBAL \S+)", str(error), re.IGNORECASE)
        if refused is None:  # e.g. "Unsupported operand 119": not a pickle at all
            raise ValueError(f"{path}: ImageNet weights unreadable: not a torch file") from None
        raise ValueError(f"{path}: ImageNet weights not loaded: the file holds code-bearing objects that "
                         f"weights-only loading refuses ({refused.group(1)})") from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError, KeyError) as error:
        raise ValueError(f"{path}: ImageNet weights unreadable ({path.stat().st_size if path.is_file() else 0} "
                         f"bytes; {type(error).__name__}): truncated, or not a torch file") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError(f"{path}: ImageNet weights are a dict of tensors in torchvision's key format; found a "
                         f"{type(state).__name__}{' holding other values' if isinstance(state, dict) else ''}")
    return state


def load_imagenet_weights(resnet: ResNet, path: str | Path) -> None:
    """Copy ImageNet weights in torchvision's key format (`conv1.weight`, `layer1.0.bn1.*`, …) into `resnet`.

    The fc layer is dropped, as in the original. The file is read with `weights_only=True`.

    Raises:
        ValueError: one line naming the file (`read_imagenet_weights`), or listing missing, unexpected and wrongly
            shaped keys.
    """
    state = read_imagenet_weights(path)
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    own = resnet.state_dict()
    # Old torchvision files predate BatchNorm's num_batches_tracked buffer; keep ours for those.
    missing = sorted(key for key in set(own) - set(state) if not key.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(key for key in set(own) & set(state) if tuple(own[key].shape) != tuple(state[key].shape))
    if missing or unexpected or wrong_shape:
        raise ValueError(f"ImageNet weights {path} do not fit resnet{resnet.depth}: missing {missing}, "
                         f"unexpected {unexpected}, wrong shape {wrong_shape}")
    resnet.load_state_dict(state, strict=False)
