"""Evaluation figures: per-joint error bars, error by hand type, and 2D overlays of chosen samples.

Each figure is titled with what was scored (`figure_title`: run, checkpoint or "oracle", dataset,
annotation subset, split, root-depth source) and states its counts and what it left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.outputs import save_figure
from interhand.vis import (
    GROUND_TRUTH,
    PREDICTION,
    caption_tile,
    draw_skeleton,
    mpl_figure,
    mpl_style,
    parents_for,
    save_sheet,
    titled_sheet,
)

__all__ = ["figure_title", "plot_per_joint_errors", "plot_error_by_hand_type", "overlay_sheet", "write_figures"]

_GROUP_COLOURS = {"single": "tab:blue", "interacting": "tab:orange", "all": "tab:gray"}


def figure_title(run: str, metrics: dict) -> str:
    """Two lines from metrics.json's fields: the run, then 'snapshot_19.pth.tar on interhand26m all/val, root
    depth from rootnet' (the checkpoint, or the oracle: the ground truth through the heatmap encoding)."""
    checkpoint = metrics.get("checkpoint", "?")
    source = "oracle (ground truth through the heatmap encoding)" if checkpoint == "oracle" else Path(checkpoint).name
    return (f"{run}\n{source} on {metrics.get('dataset', '?')} {metrics.get('annot_subset', '?')}/"
            f"{metrics.get('split', '?')}, root depth from {metrics.get('root_source', '?')}")


def plot_per_joint_errors(per_joint: dict[str, dict], title: str, path: Path,
                          samples: dict[str, int] | None = None) -> Path:
    """Grouped bars: each joint's MPJPE for each group (single / interacting, or EPE), mm.

    `samples` (group → sample count) goes into the legend; a joint without a value is marked "no valid joint".
    """
    groups = [group for group in per_joint if group != "all"] or list(per_joint)
    names = list(per_joint[groups[0]])
    with mpl_style():
        figure = mpl_figure((max(9.0, len(names) * 0.3), 5.2))
        axes = figure.add_subplot(1, 1, 1)
        width = 0.8 / len(groups)
        for index, group in enumerate(groups):
            values = np.array([np.nan if per_joint[group][name] is None else per_joint[group][name] for name in names],
                              dtype=float)
            count = f", n={samples[group]} samples" if samples and group in samples else ""
            positions = np.arange(len(names)) + index * width
            axes.bar(positions, values, width, label=f"{group}{count}", color=_GROUP_COLOURS.get(group))
            for position in positions[np.isnan(values)]:
                axes.text(position, 0, "no valid joint", rotation=90, ha="center", va="bottom", fontsize=7)
        axes.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
        axes.set_xticklabels(names, rotation=90)
        axes.set_xlim(-0.5, len(names))
        axes.set_ylabel("mean error per joint, mm (each hand aligned on its wrist)")
        axes.set_title(title, loc="left")
        axes.grid(True, axis="y", alpha=0.3)
        figure.legend(loc="outside upper right", ncols=len(groups), frameon=False)
        save_figure(figure, path, dpi=100)
    return Path(path)


def plot_error_by_hand_type(mean_error_mm: np.ndarray, hand_type: np.ndarray, path: Path, title: str = "") -> Path:
    """Box plot of the per-sample mean joint error for each ground-truth hand type present.

    A sample without any valid joint has no error and is counted as excluded ("n=22 of 24").
    """
    with mpl_style():
        figure = mpl_figure((9.0, 5.2))
        axes = figure.add_subplot(1, 1, 1)
        kinds = [kind for kind in ("right", "left", "interacting") if np.any(hand_type == kind)]
        data = [mean_error_mm[(hand_type == kind) & np.isfinite(mean_error_mm)] for kind in kinds]
        totals = [int(np.sum(hand_type == kind)) for kind in kinds]
        kept = [(kind, values, total) for kind, values, total in zip(kinds, data, totals) if len(values)]
        parts = axes.boxplot([values for _, values, _ in kept], showmeans=True,
                             meanprops={"marker": "^", "markerfacecolor": "tab:green", "markeredgecolor": "tab:green"},
                             medianprops={"color": "tab:orange"})
        axes.set_xticks(range(1, len(kept) + 1))
        axes.set_xticklabels([f"{kind}\nn={len(values)} of {total}" for kind, values, total in kept])
        axes.set_ylabel("mean joint error per sample, mm")
        excluded = int(len(mean_error_mm) - sum(len(values) for _, values, _ in kept))
        axes.set_title((title + "\n" if title else "") +
                       f"{len(mean_error_mm)} samples; {excluded} without a valid joint excluded", loc="left")
        axes.grid(True, axis="y", alpha=0.3)
        handles = [parts["medians"][0], parts["means"][0], parts["boxes"][0], parts["fliers"][0]] if kept else []
        figure.legend(handles, ["median", "mean", "box: 25–75 %, whiskers 1.5 IQR", "outlier"][:len(handles)],
                      loc="outside lower center", ncols=4, frameon=False)
        save_figure(figure, path, dpi=100)
    return Path(path)


def overlay_sheet(images: list[np.ndarray], gt_px: np.ndarray, pred_px: np.ndarray, valid: np.ndarray,
                  labels: list[list[str]], ih26m_order: bool, path: Path, columns: int = 4, title: str = "") -> Path:
    """Tiles of frames with the ground truth (green) and the prediction (red) drawn on, cropped to the hands.

    `labels`: caption lines per tile. A sample without a valid joint shows the whole frame and says so.
    """
    parents = parents_for(ih26m_order)
    tiles = []
    for image, gt, pred, mask, label in zip(images, gt_px, pred_px, valid, labels):
        canvas = Image.fromarray(image).convert("RGB")
        draw = ImageDraw.Draw(canvas)
        shown = mask > 0
        draw_skeleton(draw, gt, shown, parents, GROUND_TRUTH)
        draw_skeleton(draw, pred, shown, parents, PREDICTION)
        lines = list(label)
        if shown.any():
            points = np.concatenate([gt[shown], pred[shown]])
            low, high = points.min(0) - 30, points.max(0) + 30
            canvas = canvas.crop((int(low[0]), int(low[1]), int(high[0]), int(high[1])))
        else:
            lines.append(("masked: no valid joint (wrist invalid), not scored", (255, 120, 120)))
        tiles.append(caption_tile(canvas, lines))
    legend = [(GROUND_TRUTH, "ground truth"), (PREDICTION, "prediction (valid joints only)")]
    return save_sheet(titled_sheet(tiles, columns, title.splitlines(), legend), path)


def write_figures(metrics: dict, per_sample: dict, overlay_rows, shard_dir: Path, vis_dir: Path, title: str,
                  overlays: int, dataset: str) -> None:
    """Eval's figures of one scored set (per-joint error, error by hand type, and `overlays` worst and as many
    random samples drawn on their frames, read from the shards); also what `interhand score` draws for each file
    and protocol. `metrics`, `per_sample` (its small table: a mean error and a hand type per sample) and
    `overlay_rows` (positions → those samples' manifest rows and predicted u, v px) are
    `interhand.eval.score_file.score_file`'s."""
    # Imported here: the CLI imports this module through eval/score_job.py and stays free of OpenCV until a job runs.
    from interhand.loaders.decode import decode_image

    per_joint = metrics.get("mpjpe_per_joint") or {"single": metrics["epe_per_joint"]}
    counts = metrics.get("counts", {})
    samples = {group: counts[f"{group}_samples"] for group in per_joint if f"{group}_samples" in counts}
    plot_per_joint_errors(per_joint, title, vis_dir / "per_joint_error.png", samples)
    plot_error_by_hand_type(per_sample["mean_error_mm"], per_sample["hand_type"], vis_dir / "error_by_hand_type.png",
                            title)
    if not overlays:
        return
    errors = np.nan_to_num(per_sample["mean_error_mm"], nan=-1.0)
    worst = np.argsort(-errors, kind="stable")[:overlays]
    chosen = np.random.default_rng(0).choice(len(errors), size=min(overlays, len(errors)), replace=False)
    for label, indices in (("worst", worst), ("random", np.sort(chosen))):
        rows, pred_px = overlay_rows(indices)
        images = []
        for index in range(len(indices)):
            with open(shard_dir / rows["shard"][index], "rb") as shard:
                shard.seek(rows["image_offset"][index])
                images.append(decode_image(shard.read(rows["image_size"][index]), rows["key"][index]))
        overlay_sheet(images, rows["joints_img"][..., :2], pred_px, rows["joint_valid"],
                      [_caption(rows, i, per_sample["mean_error_mm"][position])
                       for i, position in enumerate(indices)], dataset == "interhand26m",
                      vis_dir / f"{label}.png", title=f"{title}; {label} {len(indices)} of {len(errors)} samples")


def _caption(rows: dict, index: int, error: float) -> list[str]:
    """Tile caption: the sample's key, where it was taken, its hand type and mean error (none when masked)."""
    where = f"Capture{rows['capture'][index]} cam{rows['camera'][index]} frame {rows['frame_idx'][index]}" \
        if rows["camera"][index] else f"frame {rows['frame_idx'][index]}"
    return [rows["key"][index], where, f"{rows['hand_type'][index]}"
            + (f", mean error {error:.1f} mm" if np.isfinite(error) else "")]
