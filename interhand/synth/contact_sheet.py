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
from interhand.skeleton import NUM_JOINTS, STB_RHD
from interhand.vis import BOX, LEFT_RGB, RIGHT_RGB, caption_tile, draw_hands, masked_hands, save_sheet, titled_sheet

__all__ = ["AnnotatedFrame", "read_annotated_frames", "write_contact_sheet"]


@dataclass(frozen=True)
class AnnotatedFrame:
    image_path: Path
    joints_img: np.ndarray  # (42, 2) px
    joint_valid: np.ndarray  # (42,) bool
    bbox: tuple[float, float, float, float]  # x, y, w, h
    ih26m_order: bool  # joints right hand first (InterHand2.6M) or left first (STB/RHD)
    hand_type: str  # right, left or interacting
    name: tuple[str, str]  # which annotation, two caption lines: "aid 1234 · Capture0", "cam400262 · frame 17"


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
                                     True, annotation["hand_type"],
                                     (f"aid {annotation['id']} · Capture{capture}", f"cam{camera} · frame {image['frame_idx']}")))
    return frames


def _stb_rhd_frames(root: Path, split: str) -> list[AnnotatedFrame]:
    data = root / "data"
    if (data / "RHD_training.json").exists() or (data / "RHD_evaluation.json").exists():
        folder = folder_name = "training" if split in ("train", "training") else "evaluation"
        annotation_path, image_dir = data / f"RHD_{folder}.json", lambda image: data / folder / "color" / image["file_name"]
    else:
        folder_name = f"STB {split}"
        annotation_path, image_dir = data / f"STB_{split}.json", lambda image: data / "images" / image["seq_name"] / image["file_name"]
    if not annotation_path.exists():
        raise FileNotFoundError(f"{annotation_path} not found (is {root} an STB or RHD folder with split {split!r}?)")
    content = json.loads(annotation_path.read_text())
    images = {image["id"]: image for image in content["images"]}
    frames = []
    for annotation in content["annotations"]:
        image = images[annotation["image_id"]]
        block = STB_RHD.blocks["left" if annotation["hand_type"] == "left" else "right"]
        joints_img, valid = np.zeros((NUM_JOINTS, 2)), np.zeros(NUM_JOINTS, dtype=bool)
        joints_img[block] = annotation["joint_img"]
        valid[block] = np.array(annotation["joint_valid"]).ravel() > 0
        where = image.get("seq_name") or folder_name
        frames.append(AnnotatedFrame(image_dir(image), joints_img, valid, tuple(annotation["bbox"]), False,
                                     annotation["hand_type"], (f"aid {annotation['id']} · {where}", image["file_name"])))
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
    draw.rectangle([x, y, x + w, y + h], outline=BOX, width=1)
    draw_hands(draw, frame.joints_img, frame.joint_valid, frame.ih26m_order)
    lines = [*frame.name, f"{frame.hand_type}, {int(frame.joint_valid.sum())} of 42 joints valid"]
    lines += [(line, (255, 120, 120)) for line in masked_hands(frame.hand_type, frame.joint_valid, frame.ih26m_order)]
    return caption_tile(image, lines)


def write_contact_sheet(root: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> Path:
    """Draw `count` annotations picked with `seed` into a grid PNG at `out_path`, under a title and a legend."""
    frames = read_annotated_frames(root, split)
    if not frames:
        raise ValueError(f"{root}: split {split!r} has no annotations")
    picks = np.sort(np.random.default_rng(seed).choice(len(frames), size=min(count, len(frames)), replace=False))
    title = [f"{Path(root).name} {split}: {len(picks)} of {len(frames)} annotations (picked with seed {seed}), "
             "joints projected from the annotation files"]
    legend = [(RIGHT_RGB, "right hand"), (LEFT_RGB, "left hand"), (BOX, "bbox (annotation)")]
    sheet = titled_sheet([_draw_tile(frames[index]) for index in picks], columns, title, legend)
    return save_sheet(sheet, out_path)
