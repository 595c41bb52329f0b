"""Contact sheets of loader batches: the 256×256 patches with their targets drawn back on them.

What a researcher looks at before training: are the hands in the patches, do the joints sit on them
after flips and rotations, which joints are masked. Joints are drawn from the heatmap-space targets
(×4 to patch px), so the sheet checks the whole target path, not just the images. Each tile names its
sample (key, capture, camera, frame, from the manifest) and the augmentation drawn for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.loaders.augment import params_from_array
from interhand.loaders.batch import Batch, images_to_float
from interhand.manifests.read import read_manifest
from interhand.vis import LEFT_RGB, RIGHT_RGB, caption_tile, draw_hands, masked_hands, save_sheet, titled_sheet

__all__ = ["write_batch_sheet", "augment_caption"]

_HAND_TYPES = {(1, 0): "right", (0, 1): "left", (1, 1): "interacting"}


def augment_caption(params: np.ndarray | None) -> str:
    """'flip · rot -12° · scale 1.08' from one sample's (8,) parameters ('no augmentation' for the identity)."""
    if params is None:
        return "augmentation not reported"
    drawn = params_from_array(params)
    parts = (["flip"] if drawn.flip else []) + ([f"rot {drawn.rot_deg:+.0f}°"] if abs(drawn.rot_deg) >= 0.5 else []) \
        + ([f"scale {drawn.scale:.2f}"] if abs(drawn.scale - 1.0) >= 0.005 else [])
    return " · ".join(parts) or "no augmentation"


def _where(shard_dir: Path | None) -> dict[str, str]:
    """key → 'Capture0 cam400262 frame 17' (STB/RHD: the sequence and file) from the split's manifest."""
    if shard_dir is None:
        return {}
    table = read_manifest(shard_dir, columns=["key", "capture", "camera", "frame_idx", "seq_name"]).to_pydict()
    return {key: f"Capture{capture} cam{camera} frame {frame}" if camera else f"{seq or ''} frame {frame}".strip()
            for key, capture, camera, frame, seq in zip(table["key"], table["capture"], table["camera"],
                                                        table["frame_idx"], table["seq_name"])}


def write_batch_sheet(batches: list[Batch], out_path: Path, columns: int = 8, shard_dir: Path | None = None,
                      title: str = "") -> Path:
    """Draw every sample of `batches` (colour augmentation applied, as the network sees it) into a grid PNG.

    `shard_dir` (the split folder the batches came from) names each tile's capture, camera and frame.
    """
    where = _where(shard_dir)
    tiles, samples = [], 0
    for batch in batches:
        images = (images_to_float(batch.image, batch.colour) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        for index in range(len(images)):
            tile = Image.fromarray(np.ascontiguousarray(images[index]))
            key = batch.keys[index]
            ih26m_order = not key.startswith(("stb", "rhd"))
            joints = batch.joints_voxel[index].numpy()[:, :2] * 4.0  # heatmap px → patch px
            valid = batch.joint_valid[index].numpy() > 0
            draw_hands(ImageDraw.Draw(tile), joints, valid, ih26m_order)
            hand = batch.hand_type[index].numpy()
            label = _HAND_TYPES.get((int(hand[0]), int(hand[1])), "no hand type")
            params = None if batch.params is None else batch.params[index].numpy()
            lines = [key or f"sample {samples}", where.get(key, ""), f"{label}, {int(valid.sum())} of 42 joints valid",
                     augment_caption(params)]
            lines += [(line, (255, 120, 120)) for line in masked_hands(label, valid, ih26m_order)]
            tiles.append(caption_tile(tile, [line for line in lines if line]))
            samples += 1
    batch_count = f"{len(batches)} batch{'es' if len(batches) > 1 else ''}"
    heading = [f"{title or 'loader batches'}: {samples} samples in {batch_count}, patches as the network sees them, "
               "joints drawn from the targets"]
    sheet = titled_sheet(tiles, columns, heading, [(RIGHT_RGB, "right hand"), (LEFT_RGB, "left hand")])
    return save_sheet(sheet, out_path)
