"""Contact sheets: frames of a dataset drawn with the annotations read back from its files.

Works on InterHand2.6M, STB and RHD folders as released (and as `interhand synth` writes them). The frames come
from the same reader `interhand shards` converts (`preprocess.sources`, all annotations, no H/M subset): a tile
shows a sample as the shards keep it (joints projected as stored, `joint_valid` masked where a hand's wrist is
not valid), and an annotation the shards reject is not drawn but counted in the title. So the sheet is the
quickest visual check of what a loader will see, and there is one reader per on-disk format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.config import PreprocessConfig
from interhand.preprocess.sources import Rejection, dataset_of, open_source
from interhand.shard_format.sample import Sample
from interhand.skeleton import in_ih26m_order
from interhand.vis import BOX, LEFT_RGB, RIGHT_RGB, caption_tile, draw_hands, masked_hands, save_sheet, titled_sheet

__all__ = ["AnnotatedFrame", "read_annotated_frames", "annotated_image", "write_contact_sheet"]


@dataclass(frozen=True)
class AnnotatedFrame:
    image_path: Path
    joints_img: np.ndarray  # (42, 2) px
    joint_valid: np.ndarray  # (42,) bool
    bbox: tuple[float, float, float, float]  # x, y, w, h as annotated
    ih26m_order: bool  # joints right hand first (InterHand2.6M) or left first (STB/RHD)
    hand_type: str  # right, left or interacting
    name: tuple[str, str]  # which annotation, two caption lines: "aid 1234 · Capture0", "cam400262 · frame 17"
    key: str  # the sample key the shards give it


def _frame(sample: Sample) -> AnnotatedFrame:
    """The part of a sample the sheet draws (a Sample holds ~20 arrays; a real split has over a million)."""
    if sample.dataset == "interhand26m":
        name = (f"aid {sample.annotation_id} · Capture{sample.capture}",
                f"cam{sample.camera} · frame {sample.frame_idx}")
    else:
        name = (f"aid {sample.annotation_id} · {sample.seq_name or f'{sample.dataset.upper()} {sample.split}'}",
                sample.file_name)
    return AnnotatedFrame(Path(sample.image_path), np.asarray(sample.joints_img[:, :2]),
                          np.asarray(sample.joint_valid) > 0, tuple(float(value) for value in sample.bbox_raw),
                          bool(in_ih26m_order(sample.root_joint_index)), sample.hand_type, name, sample.key)


def _read(root: Path, split: str) -> tuple[list[AnnotatedFrame], int]:
    """The frames of a split that the shards keep, and how many annotations they reject."""
    config = PreprocessConfig(dataset=dataset_of(root), data=str(root), split=split, annot_subset="all", progress=False)
    frames, rejected = [], 0
    for record in open_source(config).records():
        if isinstance(record, Rejection):
            rejected += 1
        else:
            frames.append(_frame(record))
    return frames, rejected


def read_annotated_frames(root: Path, split: str) -> list[AnnotatedFrame]:
    """Every annotation of a split that `interhand shards` keeps, with its joints projected to pixels."""
    return _read(Path(root), split)[0]


def annotated_image(frame: AnnotatedFrame) -> Image.Image:
    """The frame's image at full size with its bbox and both hands' skeletons drawn on it."""
    image = Image.open(frame.image_path).convert("RGB")
    draw = ImageDraw.Draw(image)
    x, y, w, h = frame.bbox
    draw.rectangle([x, y, x + w, y + h], outline=BOX, width=1)
    draw_hands(draw, frame.joints_img, frame.joint_valid, frame.ih26m_order)
    return image


def _draw_tile(frame: AnnotatedFrame) -> Image.Image:
    lines = [*frame.name, f"{frame.hand_type}, {int(frame.joint_valid.sum())} of 42 joints valid"]
    lines += [(line, (255, 120, 120)) for line in masked_hands(frame.hand_type, frame.joint_valid, frame.ih26m_order)]
    return caption_tile(annotated_image(frame), lines)


def write_contact_sheet(root: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> Path:
    """Draw `count` annotations picked with `seed` into a grid PNG at `out_path`, under a title and a legend."""
    frames, rejected = _read(Path(root), split)
    if not frames:
        raise ValueError(f"{root}: split {split!r} has no annotations that the shards keep ({rejected} rejected)")
    picks = np.sort(np.random.default_rng(seed).choice(len(frames), size=min(count, len(frames)), replace=False))
    title = [f"{Path(root).name} {split}: {len(picks)} of {len(frames)} annotations (picked with seed {seed}), "
             "joints projected from the annotation files"
             + (f"; {rejected} not drawn: rejected as `interhand shards` rejects them" if rejected else "")]
    legend = [(RIGHT_RGB, "right hand"), (LEFT_RGB, "left hand"), (BOX, "bbox (annotation)")]
    sheet = titled_sheet([_draw_tile(frames[index]) for index in picks], columns, title, legend)
    return save_sheet(sheet, out_path)
