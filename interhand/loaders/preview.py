"""Contact sheets of loader batches: the 256×256 patches with their targets drawn back on them.

What a researcher looks at before training: are the hands in the patches, do the joints sit on them
after flips and rotations, which joints are masked. Joints are drawn from the heatmap-space targets
(×4 to patch px), so the sheet checks the whole target path, not just the images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.loaders.batch import Batch, images_to_float
from interhand.skeleton import IH26M_PARENTS, STB_RHD_PARENTS

__all__ = ["write_batch_sheet"]

_COLOURS = [(255, 60, 60), (255, 170, 0), (60, 220, 60), (60, 140, 255), (220, 80, 255), (255, 255, 255)]


def _finger(joint: int, ih26m_order: bool) -> int:
    local = joint % 21
    if ih26m_order:
        return 5 if local == 20 else local // 4
    return 5 if local == 0 else (local - 1) // 4


def write_batch_sheet(batches: list[Batch], out_path: Path, columns: int = 8) -> Path:
    """Draw every sample of `batches` (colour augmentation applied, as the network sees it) into a grid PNG."""
    tiles = []
    for batch in batches:
        images = (images_to_float(batch.image, batch.colour) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        for index in range(len(images)):
            tile = Image.fromarray(np.ascontiguousarray(images[index]))
            draw = ImageDraw.Draw(tile)
            ih26m_order = not batch.keys[index].startswith(("stb", "rhd"))
            parents = IH26M_PARENTS if ih26m_order else STB_RHD_PARENTS
            joints = batch.joint_coord[index].numpy()[:, :2] * 4.0  # heatmap px → patch px
            valid = batch.joint_valid[index].numpy() > 0
            for joint, parent in enumerate(parents):
                if parent >= 0 and valid[joint] and valid[parent]:
                    shade = 1.0 if joint < 21 else 0.55  # first block bright, second darker
                    colour = tuple(int(c * shade) for c in _COLOURS[_finger(joint, ih26m_order)])
                    draw.line([tuple(joints[joint]), tuple(joints[parent])], fill=colour, width=2)
            for u, v in joints[valid]:
                draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=(255, 255, 255))
            hand = batch.hand_type[index].numpy()
            label = {(1, 0): "right", (0, 1): "left", (1, 1): "interacting"}.get((int(hand[0]), int(hand[1])), "?")
            draw.text((4, 242), f"{label} {int(valid.sum())}/42 {batch.keys[index][-9:]}", fill=(255, 255, 0))
            tiles.append(tile)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * 256, rows * 256))
    for slot, tile in enumerate(tiles):
        sheet.paste(tile, ((slot % columns) * 256, (slot // columns) * 256))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    return out_path
