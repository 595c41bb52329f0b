"""The demo job (the original demo/demo.py): one image and a hand box in, joints, a 2D overlay and a 3D plot out.

x, y come back in original-image px and z in mm relative to the right-hand root, with the left hand
shifted by the predicted root depth; without intrinsics and absolute depth this is not metric in x, y.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from interhand.geometry.bbox import process_bbox
from interhand.geometry.heatmap import root_bins_to_rel_mm
from interhand.loaders.augment import IDENTITY, patch_affine, warp_patch
from interhand.model.decode import decode_joints_img, heatmap_geometry
from interhand.model.original_checkpoint import load_checkpoint
from interhand.outputs import make_folder, save_figure, save_image
from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_PARENTS, JOINTS_PER_HAND
from interhand.vis import LEFT_RGB, RIGHT_RGB, draw_hands, hand_blocks, mpl_figure, mpl_style

__all__ = ["run", "draw_joints_2d", "plot_joints_3d", "HAND_PRESENT_THRESHOLD", "MAX_IMAGE_PIXELS",
           "PredictInputError", "read_image", "checked_bbox"]

# The demo calls a hand present when its sigmoid probability exceeds 0.5.
HAND_PRESENT_THRESHOLD = 0.5
# Checked from the image header before decoding (docs/model.md): 64 MP, 192 MB as RGB; more than any camera of the
# datasets, below Pillow's own bomb warning (89 MP). A 140 KB PNG can declare 12000×12000 px: 432 MB decoded.
MAX_IMAGE_PIXELS = 64_000_000
# What Pillow raises on a truncated, corrupt or non-image file (decoders: OSError, SyntaxError, struct/zlib errors).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


class PredictInputError(ValueError):
    """An image or box `interhand predict` cannot use: one line naming the file or the box."""


def read_image(image_path: str | Path) -> Image.Image:
    """The image as RGB, its size checked from the header before any pixel is decoded; every decode error one line."""
    path = Path(image_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours below is the stricter check
            with Image.open(path) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise PredictInputError(f"{path}: the image is {width}×{height} px: no pixels")
                if width * height > MAX_IMAGE_PIXELS:
                    raise PredictInputError(f"{path}: the image declares {width}×{height} px = "
                                            f"{width * height / 1e6:.0f} MP, over the {MAX_IMAGE_PIXELS / 1e6:.0f} MP "
                                            "limit (refused before decoding)")
                return image.convert("RGB")
    except PredictInputError:
        raise
    except _DECODE_ERRORS as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        size = path.stat().st_size if path.is_file() else 0
        raise PredictInputError(f"{path}: not a readable image ({size} bytes; {type(error).__name__}: {reason})") \
            from None


def checked_bbox(bbox_xywh, width: int, height: int) -> np.ndarray:
    """The hand box as (4,) float64: finite, w and h > 0, overlapping the width×height image (else one line)."""
    box = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1)
    shown = ",".join(f"{value:g}" for value in box)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        raise PredictInputError(f"bbox {shown}: not x,y,w,h as four finite numbers with w and h > 0")
    x, y, w, h = box
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise PredictInputError(f"bbox {shown} lies outside the {width}×{height} px image (nothing of the image "
                                "would be in the patch)")
    return box


def draw_joints_2d(image: Image.Image, joints_img_px: np.ndarray, joint_valid: np.ndarray,
                   radius: int = 3, line_width: int = 3) -> Image.Image:
    """Skeleton overlay on a copy of `image`, right hand orange and left blue (`interhand.vis`).
    joints_img_px: (42, ≥2) px; joint_valid: (42,) 0/1."""
    canvas = image.convert("RGB").copy()
    draw_hands(ImageDraw.Draw(canvas), joints_img_px, np.asarray(joint_valid) > 0, True, line_width, radius)
    return canvas


def plot_joints_3d(joints: np.ndarray, joint_valid: np.ndarray, path: Path, title: str = "") -> None:
    """3D skeleton plot to a PNG (matplotlib Agg, no pyplot state). joints: (42, 3) (u px, v px, z mm)."""
    with mpl_style():
        figure = mpl_figure((6, 6))
        axes = figure.add_subplot(projection="3d")
        valid = np.asarray(joint_valid) > 0
        for hand, block in hand_blocks(True).items():
            color = np.array(RIGHT_RGB if hand == "right" else LEFT_RGB) / 255.0
            for joint in range(block.start, block.stop):
                parent = IH26M_PARENTS[joint]
                if parent >= 0 and valid[joint] and valid[parent]:
                    pair = joints[[joint, parent]]
                    axes.plot(pair[:, 0], pair[:, 2], -pair[:, 1], color=color, linewidth=2)
            shown = np.arange(block.start, block.stop)[valid[block]]
            axes.scatter(joints[shown, 0], joints[shown, 2], -joints[shown, 1], color=[color], marker="o",
                         label=f"{hand} hand ({len(shown)} joints shown)")
        axes.set_xlabel("u (px)")
        axes.set_ylabel("z (mm, right root = 0)")
        axes.set_zlabel("−v (px)")
        axes.legend(loc="upper left")
        if title:
            axes.set_title(title)
        save_figure(figure, path, dpi=100)


def _predict_patch(model, patch: np.ndarray, device: str) -> dict[str, torch.Tensor]:
    # (S, S, 3) uint8 → (1, 3, S, S) float in [0, 1]: the original's ToTensor()/255, no normalisation.
    images = torch.from_numpy(patch.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)
    return model.predict(images)


def run(checkpoint: str | Path, image_path: str | Path, bbox_xywh, out_dir: str | Path,
        device: str = "cpu") -> dict:
    """Predict both hands in one image box and write `result_2d.png` and `result_3d.png` to `out_dir`.

    Args:
        checkpoint: ours or the original's `snapshot_N.pth.tar`.
        image_path: any image Pillow reads (EXIF orientation ignored, as the original).
        bbox_xywh: (4,) hand box [x_min, y_min, width, height], original-image px (before process_bbox).
        out_dir: folder for the PNGs (created).
        device: torch device for the network.

    Returns:
        JSON-ready dict: hand probabilities and presence, rel_root_depth_mm, joint names, `joints`
        (42 × [u px, v px, z mm]), `joint_valid` (hand present), and the two PNG paths.
    """
    out_dir = Path(out_dir)
    image = read_image(image_path)  # the inputs are checked before the network is loaded
    box = process_bbox(checked_bbox(bbox_xywh, image.width, image.height), aspect_ratio=1.0)
    make_folder(out_dir)  # only once the inputs are known good
    model = load_checkpoint(checkpoint, map_location=device)
    config = model.config
    img_to_patch, _, patch_to_img = patch_affine(box, image.width, IDENTITY, config.input_size)  # no flip
    # the loaders' warp: the original's cv2.warpAffine, bilinear, black outside the image
    output = _predict_patch(model, warp_patch(np.asarray(image), img_to_patch, config.input_size), device)
    joints_voxel = output["joints_voxel"][0].cpu().numpy()
    rel_root_bins = float(output["rel_root_depth_bins"][0, 0])
    hand_type = output["hand_type"][0].float().cpu().numpy()
    joints = decode_joints_img(joints_voxel, rel_root_bins, patch_to_img, config)
    if not (np.isfinite(joints).all() and np.isfinite(hand_type).all() and np.isfinite(rel_root_bins)):
        raise PredictInputError(f"{image_path}: the network's output for bbox {list(bbox_xywh)} is not finite "
                                "(NaN or inf): nothing is printed")
    present = hand_type > HAND_PRESENT_THRESHOLD
    joint_valid = np.repeat(present, JOINTS_PER_HAND).astype(np.int64)
    path_2d, path_3d = out_dir / "result_2d.png", out_dir / "result_3d.png"
    save_image(draw_joints_2d(image, joints, joint_valid), path_2d)
    plot_joints_3d(joints, joint_valid, path_3d, f"{Path(image_path).name}, {Path(checkpoint).name}\n"
                   f"p(right) {hand_type[0]:.2f}, p(left) {hand_type[1]:.2f}; a hand is drawn when p > "
                   f"{HAND_PRESENT_THRESHOLD}")
    return {
        "hand_type": {"right": float(hand_type[0]), "left": float(hand_type[1])},
        "right_exists": bool(present[0]),
        "left_exists": bool(present[1]),
        "rel_root_depth_mm": float(root_bins_to_rel_mm(rel_root_bins, heatmap_geometry(config))),
        "bbox_processed_xywh": [float(value) for value in box],
        "joint_names": list(IH26M_JOINT_NAMES),
        "joints": [[round(float(value), 3) for value in row] for row in joints],
        "joint_valid": joint_valid.tolist(),
        "result_2d": str(path_2d),
        "result_3d": str(path_3d),
    }
