"""Frozen configuration dataclasses, one per job. Each field's `help` is also its CLI help text.

Validation raises ValueError naming the field and the allowed values (STYLE.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SynthConfig", "SYNTH_DATASETS", "SYNTH_LAYOUTS"]

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
