"""Frozen configuration dataclasses, one per job. Each field's `help` is also its CLI help text.

Validation raises ValueError naming the field and the allowed values (STYLE.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SynthConfig", "SYNTH_DATASETS", "SYNTH_LAYOUTS", "ModelConfig", "RESNET_TYPES", "HEATMAP_LOSSES"]

SYNTH_DATASETS = ("interhand26m", "stb", "rhd")
SYNTH_LAYOUTS = ("v1.0", "v0.0", "both")


def _choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}")


def _at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be at least {minimum}")


@dataclass(frozen=True)
class SynthConfig:
    """What `interhand synth` writes: one synthetic dataset in its real on-disk format."""

    dataset: Literal["interhand26m", "stb", "rhd"] = field(
        default="interhand26m", metadata={"help": "which dataset's on-disk format to write"})
    seed: int = field(default=0, metadata={"help": "random seed; the same seed gives identical bytes"})
    frames: int = field(default=48, metadata={
        "help": "time frames per split (InterHand2.6M: each is seen by every camera of its capture; "
                "STB/RHD: images per split)"})
    captures: int = field(default=2, metadata={"help": "InterHand2.6M: captures (recording sessions) per split"})
    cameras: int = field(default=6, metadata={"help": "InterHand2.6M: calibrated cameras per capture (a ring; "
                                                       "about a third are gray 41xxxx cameras)"})
    layout: Literal["v1.0", "v0.0", "both"] = field(default="both", metadata={
        "help": "InterHand2.6M annotation layout: v1.0 per-split folders, v0.0 subset folders, or both"})
    human_fraction: float = field(default=0.4, metadata={
        "help": "InterHand2.6M: fraction of train/test frames in the human-annotated (H) subset"})
    jpeg_quality: int = field(default=90, metadata={"help": "JPEG quality of the rendered frames"})

    def __post_init__(self) -> None:
        _choice("dataset", self.dataset, SYNTH_DATASETS)
        _choice("layout", self.layout, SYNTH_LAYOUTS)
        _at_least("frames", self.frames, 1)
        _at_least("captures", self.captures, 1)
        _at_least("cameras", self.cameras, 1)
        if not 0.0 <= self.human_fraction <= 1.0:
            raise ValueError(f"human_fraction={self.human_fraction!r} must lie in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality!r} must lie in [1, 100]")


# --- model configs (model issue) ---

RESNET_TYPES = (18, 34, 50, 101, 152)
HEATMAP_LOSSES = ("lean", "dense")


@dataclass(frozen=True)
class ModelConfig:
    """InterNet's architecture and how it runs (interhand_format.md §5, §6). Stored in every checkpoint."""

    resnet_type: int = field(default=50, metadata={
        "help": "ResNet depth of the backbone: 18, 34, 50, 101 or 152 (the heads follow its channel count)"})
    input_size: int = field(default=256, metadata={"help": "square input patch fed to the backbone, px"})
    heatmap_size: int = field(default=64, metadata={
        "help": "voxels per axis of the 3D heatmap (also the number of root-depth bins); input_size / 4"})
    sigma: float = field(default=2.5, metadata={"help": "std of the Gaussian heatmap target, voxels"})
    bbox_3d_size: float = field(default=400.0, metadata={
        "help": "depth range covered by the heatmap's z axis around each hand's root, mm"})
    bbox_3d_size_root: float = field(default=400.0, metadata={
        "help": "range of the left-vs-right root depth covered by the root-depth bins, mm"})
    channels_last: bool = field(default=False, metadata={"help": "run convolutions in channels_last memory format"})
    amp: bool = field(default=False, metadata={"help": "bf16 autocast for the network (losses stay float32)"})
    compile: bool = field(default=False, metadata={"help": "wrap the network with torch.compile"})
    loss: Literal["lean", "dense"] = field(default="lean", metadata={
        "help": "heatmap loss: lean (separable, no dense target; same value and gradient) or dense (reference)"})
    pretrained: str = field(default="", metadata={
        "help": "local file of ImageNet ResNet weights in torchvision's key format; empty: original init only"})

    def __post_init__(self) -> None:
        _choice("resnet_type", self.resnet_type, RESNET_TYPES)
        _choice("loss", self.loss, HEATMAP_LOSSES)
        _at_least("input_size", self.input_size, 32)
        if self.input_size % 32:
            raise ValueError(f"input_size={self.input_size!r} must be a multiple of 32 (the backbone's stride)")
        if self.heatmap_size * 4 != self.input_size:
            raise ValueError(f"heatmap_size={self.heatmap_size!r} must be input_size / 4 = {self.input_size // 4} "
                             "(three stride-2 deconvolutions on the stride-32 feature map)")
        if self.sigma <= 0:
            raise ValueError(f"sigma={self.sigma!r} must be positive")
        if self.bbox_3d_size <= 0:
            raise ValueError(f"bbox_3d_size={self.bbox_3d_size!r} must be positive")
        if self.bbox_3d_size_root <= 0:
            raise ValueError(f"bbox_3d_size_root={self.bbox_3d_size_root!r} must be positive")
