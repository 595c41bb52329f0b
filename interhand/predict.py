"""The demo job (the original demo/demo.py): one image and a hand box in, joints, a 2D overlay and a 3D plot out.

x, y come back in original-image px and z in mm relative to the right-hand root, with the left hand
shifted by the predicted root depth; without intrinsics and absolute depth this is not metric in x, y.
"""

from __future__ import annotations

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

__all__ = ["run", "draw_joints_2d", "plot_joints_3d", "HAND_PRESENT_THRESHOLD"]

# The demo calls a hand present when its sigmoid probability exceeds 0.5.
HAND_PRESENT_THRESHOLD = 0.5


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
    make_folder(out_dir)
    model = load_checkpoint(checkpoint, map_location=device)
    config = model.config
    image = Image.open(image_path).convert("RGB")
    box = process_bbox(bbox_xywh, aspect_ratio=1.0)
    img_to_patch, _, patch_to_img = patch_affine(box, image.width, IDENTITY, config.input_size)  # no flip
    # the loaders' warp: the original's cv2.warpAffine, bilinear, black outside the image
    output = _predict_patch(model, warp_patch(np.asarray(image), img_to_patch, config.input_size), device)
    joints_voxel = output["joints_voxel"][0].cpu().numpy()
    rel_root_bins = float(output["rel_root_depth_bins"][0, 0])
    hand_type = output["hand_type"][0].float().cpu().numpy()
    joints = decode_joints_img(joints_voxel, rel_root_bins, patch_to_img, config)
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
