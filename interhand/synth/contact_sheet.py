"""Contact sheets: frames of a dataset drawn with the annotations read back from its files.

Works on InterHand2.6M (v1.0 layout), STB and RHD folders as released (and as `interhand synth`
writes them): the sheet shows what a loader would see, so it is the quickest visual check of a dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interhand.geometry.camera import camera_to_pixel, world_to_camera
from interhand.skeleton import IH26M_PARENTS, STB_RHD_PARENTS

__all__ = ["AnnotatedFrame", "read_annotated_frames", "write_contact_sheet"]

_TILE = 256
_FINGER_COLOURS = np.array([[255, 60, 60], [255, 170, 0], [60, 220, 60], [60, 140, 255], [220, 80, 255]])


@dataclass(frozen=True)
class AnnotatedFrame:
    image_path: Path
    joints_img: np.ndarray  # (42, 2) px
    joint_valid: np.ndarray  # (42,) bool
    bbox: tuple[float, float, float, float]  # x, y, w, h
    parents: tuple[int, ...]
    label: str


def _ih26m_frames(root: Path, split: str) -> list[AnnotatedFrame]:
    folder = root / "annotations" / split
    data_path = folder / f"InterHand2.6M_{split}_data.json"
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path} not found (is {root} an InterHand2.6M v1.0 folder with split {split!r}?)")
    data = json.loads(data_path.read_text())
    cameras = json.loads((folder / f"InterHand2.6M_{split}_camera.json").read_text())
    joints = json.loads((folder / f"InterHand2.6M_{split}_joint_3d.json").read_text())
    images = {image["id"]: image for image in data["images"]}
    frames = []
    for annotation in data["annotations"]:
        image = images[annotation["image_id"]]
        capture, camera = str(image["capture"]), str(image["camera"])
        calibration = {key: np.array(cameras[capture][key][camera]) for key in ("campos", "camrot", "focal", "princpt")}
        world = np.array(joints[capture][str(image["frame_idx"])]["world_coord"])
        joints_img = camera_to_pixel(world_to_camera(world, calibration["camrot"], calibration["campos"]),
                                     calibration["focal"], calibration["princpt"])
        frames.append(AnnotatedFrame(root / "images" / split / image["file_name"], joints_img,
                                     np.array(annotation["joint_valid"]).ravel() > 0, tuple(annotation["bbox"]),
                                     IH26M_PARENTS, f"{annotation['hand_type']} cam{camera}"))
    return frames


def _stb_rhd_frames(root: Path, split: str) -> list[AnnotatedFrame]:
    data = root / "data"
    if (data / "RHD_training.json").exists() or (data / "RHD_evaluation.json").exists():
        folder = "training" if split in ("train", "training") else "evaluation"
        annotation_path, image_dir = data / f"RHD_{folder}.json", lambda image: data / folder / "color" / image["file_name"]
    else:
        annotation_path, image_dir = data / f"STB_{split}.json", lambda image: data / "images" / image["seq_name"] / image["file_name"]
    if not annotation_path.exists():
        raise FileNotFoundError(f"{annotation_path} not found (is {root} an STB or RHD folder with split {split!r}?)")
    content = json.loads(annotation_path.read_text())
    images = {image["id"]: image for image in content["images"]}
    frames = []
    for annotation in content["annotations"]:
        image = images[annotation["image_id"]]
        block = slice(0, 21) if annotation["hand_type"] == "left" else slice(21, 42)
        joints_img, valid = np.zeros((42, 2)), np.zeros(42, dtype=bool)
        joints_img[block] = annotation["joint_img"]
        valid[block] = np.array(annotation["joint_valid"]).ravel() > 0
        frames.append(AnnotatedFrame(image_dir(image), joints_img, valid, tuple(annotation["bbox"]), STB_RHD_PARENTS,
                                     annotation["hand_type"]))
    return frames


def read_annotated_frames(root: Path, split: str) -> list[AnnotatedFrame]:
    """Every annotation of a split, with its joints projected to pixels."""
    root = Path(root)
    if (root / "annotations").is_dir():
        return _ih26m_frames(root, split)
    if (root / "data").is_dir():
        return _stb_rhd_frames(root, split)
    raise ValueError(f"{root}: neither an InterHand2.6M folder (annotations/) nor an STB/RHD folder (data/)")


def _draw_tile(frame: AnnotatedFrame) -> Image.Image:
    image = Image.open(frame.image_path).convert("RGB")
    draw = ImageDraw.Draw(image)
    x, y, w, h = frame.bbox
    draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 0), width=1)
    finger_of = {}
    for joint, parent in enumerate(frame.parents):
        local = joint % 21
        finger_of[joint] = 5 if parent < 0 else (local // 4 if frame.parents is IH26M_PARENTS else (local - 1) // 4)
    for joint, parent in enumerate(frame.parents):
        if parent < 0 or not (frame.joint_valid[joint] and frame.joint_valid[parent]):
            continue
        colour = tuple(int(c) for c in _FINGER_COLOURS[finger_of[joint]] * (1.0 if joint < 21 else 0.6))
        draw.line([tuple(frame.joints_img[joint]), tuple(frame.joints_img[parent])], fill=colour, width=2)
    for joint in np.flatnonzero(frame.joint_valid):
        u, v = frame.joints_img[joint]
        draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=(255, 255, 255))
    image.thumbnail((_TILE, _TILE - 14))
    tile = Image.new("RGB", (_TILE, _TILE), (16, 16, 16))
    tile.paste(image, ((_TILE - image.width) // 2, 0))
    ImageDraw.Draw(tile).text((4, _TILE - 13), f"{frame.label} valid {int(frame.joint_valid.sum())}/42",
                              fill=(230, 230, 230))
    return tile


def write_contact_sheet(root: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> Path:
    """Draw `count` annotations picked with `seed` into a grid PNG at `out_path`."""
    frames = read_annotated_frames(root, split)
    if not frames:
        raise ValueError(f"{root}: split {split!r} has no annotations")
    picks = np.sort(np.random.default_rng(seed).choice(len(frames), size=min(count, len(frames)), replace=False))
    rows = -(-len(picks) // columns)
    sheet = Image.new("RGB", (columns * _TILE, rows * _TILE), (0, 0, 0))
    for slot, index in enumerate(picks):
        sheet.paste(_draw_tile(frames[index]), ((slot % columns) * _TILE, (slot // columns) * _TILE))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    return out_path
