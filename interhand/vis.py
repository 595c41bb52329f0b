"""The one drawing module: hand skeletons on images, captioned tiles, titled sheets with a legend, and
matplotlib figures with readable type. Every picture the project writes is built from these pieces, so the
colours mean the same everywhere:

- right hand orange, left hand blue (contact sheets, batch previews);
- ground truth green, prediction red (evaluation overlays);
- a hand that is in the frame but has no valid joint is named in the caption ("left hand masked: ...").
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from interhand.outputs import save_image
from interhand.skeleton import joint_order

__all__ = ["RIGHT_RGB", "LEFT_RGB", "GROUND_TRUTH", "PREDICTION", "BOX", "TEXT", "font", "hand_blocks", "parents_for",
           "draw_skeleton", "draw_hands", "masked_hands", "caption_tile", "titled_sheet", "mpl_style",
           "mpl_figure", "save_sheet"]

RIGHT_RGB, LEFT_RGB = (255, 140, 30), (40, 150, 255)  # each hand's colour
GROUND_TRUTH, PREDICTION = (60, 220, 60), (255, 60, 60)
BOX, TEXT, MUTED, BACKGROUND = (255, 230, 0), (235, 235, 235), (170, 170, 170), (22, 22, 22)
TILE = 256
_CAPTION_SIZE, _TITLE_SIZE = 13, 17


def font(size: int = _CAPTION_SIZE) -> ImageFont.ImageFont:
    """Pillow's built-in scalable font (no font files needed)."""
    return ImageFont.load_default(size=size)


def parents_for(ih26m_order: bool) -> tuple[int, ...]:
    return joint_order(ih26m_order).parents


def hand_blocks(ih26m_order: bool) -> dict[str, slice]:
    """Which 21 joints are each hand's: InterHand2.6M right first; STB/RHD left first (wrist first)."""
    return joint_order(ih26m_order).blocks


def draw_skeleton(draw: ImageDraw.ImageDraw, joints_px: np.ndarray, valid: np.ndarray, parents: Sequence[int],
                  colour: tuple[int, int, int], width: int = 2, radius: float = 2.0,
                  joints: slice = slice(None)) -> None:
    """Bones between valid joint pairs and a dot on each valid joint, of the joints in `joints`, in `colour`."""
    indices = range(len(parents))[joints]
    for joint in indices:
        parent = parents[joint]
        if parent >= 0 and valid[joint] and valid[parent]:
            draw.line([tuple(map(float, joints_px[joint][:2])), tuple(map(float, joints_px[parent][:2]))],
                      fill=colour, width=width)
    for joint in indices:
        if valid[joint]:
            u, v = (float(value) for value in joints_px[joint][:2])
            draw.ellipse([u - radius, v - radius, u + radius, v + radius], fill=colour, outline=(255, 255, 255))


def draw_hands(draw: ImageDraw.ImageDraw, joints_px: np.ndarray, valid: np.ndarray, ih26m_order: bool,
               width: int = 2, radius: float = 2.0) -> None:
    """Both hands of a 42-joint skeleton, the right one orange and the left one blue."""
    parents = parents_for(ih26m_order)
    for hand, block in hand_blocks(ih26m_order).items():
        draw_skeleton(draw, joints_px, valid, parents, RIGHT_RGB if hand == "right" else LEFT_RGB, width, radius,
                      block)


def masked_hands(hand_type: str, valid: np.ndarray, ih26m_order: bool) -> list[str]:
    """Caption lines for hands that the hand type says are there but that have no valid joint."""
    present = (("right", "left") if hand_type == "interacting"
               else (hand_type,) if hand_type in ("right", "left") else ())
    roots = joint_order(ih26m_order).roots
    lines = []
    for hand, block in hand_blocks(ih26m_order).items():
        if hand in present and not np.any(valid[block]):
            reason = "wrist invalid" if not valid[roots[hand]] else "no valid joint"
            lines.append(f"{hand} hand masked: {reason}")
    return lines


def caption_tile(picture: Image.Image, lines: Sequence[str | tuple[str, tuple[int, int, int]]],
                 size: int = TILE) -> Image.Image:
    """A tile: the picture scaled into a `size` square above a caption of `lines` (text, or (text, colour))."""
    text_font = font()
    line_height = _CAPTION_SIZE + 3
    caption = line_height * len(lines) + 4
    picture = picture.copy()
    picture.thumbnail((size, size))
    tile = Image.new("RGB", (size, size + caption), BACKGROUND)
    tile.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    draw = ImageDraw.Draw(tile)
    for row, line in enumerate(lines):
        text, colour = (line, TEXT) if isinstance(line, str) else line
        draw.text((4, size + 2 + row * line_height), text, fill=colour, font=text_font)
    return tile


def _wrap(text: str, text_font: ImageFont.ImageFont, width: int) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` px (a longer single word stays whole)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def titled_sheet(tiles: Sequence[Image.Image], columns: int, title: Sequence[str],
                 legend: Sequence[tuple[tuple[int, int, int], str]]) -> Image.Image:
    """Tiles in a grid under a header: title lines, then a legend of colour swatches with their meaning."""
    columns = max(1, min(columns, len(tiles) or 1))
    cell_w = max((tile.width for tile in tiles), default=TILE) + 4  # a 4 px gutter between tiles
    cell_h = max((tile.height for tile in tiles), default=TILE) + 4
    rows = max(1, -(-len(tiles) // columns))
    width = max(columns * cell_w, 640)
    title_font, legend_font = font(_TITLE_SIZE), font()
    title = [wrapped for line in title for wrapped in _wrap(line, title_font, width - 16)]
    header = 8 + (_TITLE_SIZE + 5) * len(title) + (_CAPTION_SIZE + 10 if legend else 0)
    sheet = Image.new("RGB", (width, header + rows * cell_h), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    y = 6
    for line in title:
        draw.text((8, y), line, fill=(255, 255, 255), font=title_font)
        y += _TITLE_SIZE + 5
    x = 8
    for colour, meaning in legend:
        draw.rectangle([x, y + 3, x + 14, y + 13], fill=colour)
        draw.text((x + 20, y), meaning, fill=TEXT, font=legend_font)
        x += 20 + int(draw.textlength(meaning, font=legend_font)) + 18
    for slot, tile in enumerate(tiles):
        sheet.paste(tile, ((slot % columns) * cell_w, header + (slot // columns) * cell_h))
    return sheet


def save_sheet(sheet: Image.Image, path: Path) -> Path:
    return save_image(sheet, path)  # never through a planted link


def mpl_style(font_size: float = 10.0):
    """A context for building and saving a figure with type readable at 100 dpi (ticks one point smaller)."""
    from matplotlib import rc_context

    return rc_context({"font.size": font_size, "axes.titlesize": font_size + 1, "axes.labelsize": font_size,
                       "xtick.labelsize": font_size - 1, "ytick.labelsize": font_size - 1,
                       "legend.fontsize": font_size - 1, "figure.titlesize": font_size + 2})


def mpl_figure(size: tuple[float, float]):
    """A matplotlib Figure on the Agg canvas (no pyplot state); build it inside `mpl_style()`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")  # constrained: legends can sit outside the axes
    FigureCanvasAgg(figure)
    return figure
