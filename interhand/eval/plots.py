"""Evaluation figures: per-joint error bars, error by hand type, and 2D overlays of chosen samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.skeleton import IH26M_PARENTS, STB_RHD_PARENTS

__all__ = ["plot_per_joint_errors", "plot_error_by_hand_type", "overlay_sheet"]

_GT_COLOUR, _PRED_COLOUR = (60, 220, 60), (255, 60, 60)


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def plot_per_joint_errors(per_joint: dict[str, dict], title: str, path: Path) -> Path:
    """Grouped bars: each joint's MPJPE for each group (single / interacting, or EPE), mm; gaps = missing."""
    groups = [group for group in per_joint if group != "all"] or list(per_joint)
    names = list(per_joint[groups[0]])
    figure = _figure((max(8, len(names) * 0.32), 4.5))
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(groups)
    for index, group in enumerate(groups):
        values = [np.nan if per_joint[group][name] is None else per_joint[group][name] for name in names]
        axes.bar(np.arange(len(names)) + index * width, values, width, label=group)
    axes.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    axes.set_xticklabels(names, rotation=90, fontsize=7)
    axes.set_ylabel("error, mm (root-aligned)")
    axes.set_title(title)
    axes.legend()
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)


def plot_error_by_hand_type(mean_error_mm: np.ndarray, hand_type: np.ndarray, path: Path) -> Path:
    """Box plot of the per-sample mean joint error for each ground-truth hand type."""
    figure = _figure((6, 4.5))
    axes = figure.add_subplot(1, 1, 1)
    kinds = [kind for kind in ("right", "left", "interacting") if np.any(hand_type == kind)]
    data = [mean_error_mm[(hand_type == kind) & np.isfinite(mean_error_mm)] for kind in kinds]
    axes.boxplot(data, showmeans=True)
    axes.set_xticks(range(1, len(kinds) + 1))
    axes.set_xticklabels([f"{kind}\n(n={len(values)})" for kind, values in zip(kinds, data)])
    axes.set_ylabel("mean joint error per sample, mm")
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)


def _draw(draw: ImageDraw.ImageDraw, joints: np.ndarray, valid: np.ndarray, parents, colour) -> None:
    for joint, parent in enumerate(parents):
        if parent >= 0 and valid[joint] and valid[parent]:
            draw.line([tuple(joints[joint]), tuple(joints[parent])], fill=colour, width=2)
    for u, v in joints[valid]:
        draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=colour)


def overlay_sheet(images: list[np.ndarray], gt_px: np.ndarray, pred_px: np.ndarray, valid: np.ndarray,
                  labels: list[str], ih26m_order: bool, path: Path, columns: int = 4) -> Path:
    """Tiles of frames with the ground truth (green) and the prediction (red) drawn on, cropped to the hands."""
    parents = IH26M_PARENTS if ih26m_order else STB_RHD_PARENTS
    tiles = []
    for image, gt, pred, mask, label in zip(images, gt_px, pred_px, valid, labels):
        canvas = Image.fromarray(image).convert("RGB")
        draw = ImageDraw.Draw(canvas)
        _draw(draw, gt, mask > 0, parents, _GT_COLOUR)
        _draw(draw, pred, mask > 0, parents, _PRED_COLOUR)
        points = np.concatenate([gt[mask > 0], pred[mask > 0]]) if (mask > 0).any() else np.array([[0, 0], list(canvas.size)])
        low, high = points.min(0) - 30, points.max(0) + 30
        canvas = canvas.crop((int(low[0]), int(low[1]), int(high[0]), int(high[1])))
        canvas.thumbnail((256, 242))
        tile = Image.new("RGB", (256, 256), (16, 16, 16))
        tile.paste(canvas, ((256 - canvas.width) // 2, 0))
        ImageDraw.Draw(tile).text((4, 243), label, fill=(255, 255, 0))
        tiles.append(tile)
    rows = max(1, -(-len(tiles) // columns))
    sheet = Image.new("RGB", (columns * 256, rows * 256), (0, 0, 0))
    for slot, tile in enumerate(tiles):
        sheet.paste(tile, ((slot % columns) * 256, (slot // columns) * 256))
    sheet.save(path)
    return Path(path)
