"""InterHand2.6M writer: v1.0 and v0.0 annotation layouts, images, RootNet outputs, MANO, H-subset ids.

Layout and schemas as docs/synth.md lists them (v1.0 per-split folders, v0.0 subset folders with bare 42×3 joint
lists, RootNet json, NeuralAnnot MANO json, `aid_human_annot_<split>.txt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interhand.config import SynthConfig
from interhand.geometry.bbox import process_bbox
from interhand.geometry.camera import camera_to_pixel, world_to_camera
from interhand.outputs import make_folder, write_text
from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_PARENTS, IH26M_ROOT, LEFT, NUM_JOINTS, RIGHT, skeleton_txt
from interhand.synth.common import as_float32_list, inside_image, save_jpeg, tight_bbox, to_gray_rgb, write_json
from interhand.synth.render import render_hands
from interhand.synth.scene import (
    SCENE_CENTRE_MM,
    CaptureLook,
    SynthCamera,
    SynthFrame,
    capture_look,
    drawn_hands,
    make_capture_frames,
    make_rig,
)

__all__ = ["write_interhand26m", "annotation_bbox", "SPLITS", "ID_BASE"]

SPLITS = ("train", "val", "test")
# Annotation/image ids: unique across the whole dataset, split by split.
ID_BASE = {"train": 1_000_000, "val": 2_000_000, "test": 3_000_000}
_HAND_BLOCKS = {"right": RIGHT, "left": LEFT}
# RootNet's error on its absolute root depth (the real model reaches tens of mm; #36).
_ROOTNET_DEPTH_NOISE_MM = 30.0


@dataclass
class _SplitFiles:
    images: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    cameras: dict = field(default_factory=dict)
    joints: dict = field(default_factory=dict)
    joints_v0: dict = field(default_factory=dict)
    mano: dict = field(default_factory=dict)
    rootnet: list = field(default_factory=list)
    human_ids: set = field(default_factory=set)


def write_interhand26m(config: SynthConfig, root: Path, progress=None) -> dict[str, int]:
    """Write the whole dataset under `root` (the role of the original `data/InterHand2.6M`). Returns counts."""
    make_folder(root / "annotations")
    write_text(root / "annotations" / "skeleton.txt", skeleton_txt(IH26M_JOINT_NAMES, IH26M_PARENTS))
    counts: dict[str, int] = {}
    subjects: set[int] = set()
    for split_index, split in enumerate(SPLITS):
        files = _SplitFiles()
        rng = np.random.default_rng([config.seed, split_index])
        next_id = ID_BASE[split]
        per_capture = np.full(config.captures, config.frames // config.captures)
        per_capture[: config.frames % config.captures] += 1
        for capture, num_frames in enumerate(per_capture):
            if num_frames == 0:
                continue
            capture_rng = np.random.default_rng([config.seed, split_index, capture])
            subject = (capture + 7 * split_index) % 26
            subjects.add(subject)
            centre = SCENE_CENTRE_MM + capture_rng.normal(0, 30, size=3)
            rig = make_rig(capture_rng, config.cameras, centre)
            frames = make_capture_frames(capture_rng, capture, subject, int(num_frames), centre)
            _add_capture_files(files, capture, rig, frames)
            look = capture_look(config.seed, split_index, capture, rig)
            for frame in frames:
                human = split != "val" and rng.random() < config.human_fraction
                for camera in rig:
                    image_id = next_id
                    next_id += 1
                    _render_and_annotate(config, root, split, files, frame, camera, look, image_id, rng)
                    if human:
                        files.human_ids.add(image_id)
                    if progress is not None:
                        progress.update(1)
        _write_split(config, root, split, files)
        counts[split] = len(files.annotations)
    write_text(root / "annotations" / "subject.txt",
               "# subject_id subject_directory gender\n"
               + "".join(f"{s} subject_{s:02d} {'female' if s % 2 else 'male'}\n" for s in sorted(subjects)))
    return counts


def _add_capture_files(files: _SplitFiles, capture: int, rig: list[SynthCamera], frames: list[SynthFrame]) -> None:
    key = str(capture)
    files.cameras[key] = {
        "campos": {cam.name: as_float32_list(cam.view.campos) for cam in rig},
        "camrot": {cam.name: as_float32_list(cam.view.camrot) for cam in rig},
        "focal": {cam.name: as_float32_list(cam.view.focal) for cam in rig},
        "princpt": {cam.name: as_float32_list(cam.view.princpt) for cam in rig},
    }
    files.joints[key], files.joints_v0[key], files.mano[key] = {}, {}, {}
    for frame in frames:
        valid_count = int(frame.valid_3d.sum())
        files.joints[key][str(frame.frame_idx)] = {
            "world_coord": as_float32_list(frame.joints_world_mm),
            "joint_valid": [[bool(v)] for v in frame.valid_3d],
            "hand_type": frame.hand_type,
            "hand_type_valid": frame.hand_type != "interacting" or valid_count > 30,
        }
        files.joints_v0[key][str(frame.frame_idx)] = as_float32_list(frame.joints_world_mm)
        files.mano[key][str(frame.frame_idx)] = {
            side: None if params is None else {name: as_float32_list(value) for name, value in params.items()}
            for side, params in frame.mano.items()}


def _render_and_annotate(config, root, split, files, frame: SynthFrame, camera: SynthCamera, look: CaptureLook,
                         image_id: int, rng: np.random.Generator) -> None:
    view = camera.view
    joints_cam = world_to_camera(frame.joints_world_mm, view.camrot, view.campos)
    joints_img = camera_to_pixel(joints_cam, view.focal, view.princpt)
    drawn = drawn_hands(frame.hand_type)
    hands = [frame.joints_world_mm[_HAND_BLOCKS[side]] for side in drawn]
    image, _ = render_hands(look.backgrounds[camera.name], hands, list(drawn), [look.appearance] * len(hands), view,
                            look.light_dir)
    if camera.gray:
        image = to_gray_rgb(image)
    file_name = f"Capture{frame.capture}/{frame.seq_name}/cam{camera.name}/image{frame.frame_idx}.jpg"
    save_jpeg(root / "images" / split / file_name, image, config.jpeg_quality)

    # 2D validity: annotated in 3D, in front of the camera and inside the image, as in the real
    # samples of tests/data/interhand26m_real.
    valid = frame.valid_3d & (joints_cam[:, 2] > 0) & inside_image(joints_img, view.width, view.height)
    drawn_joints = np.concatenate([np.arange(NUM_JOINTS)[_HAND_BLOCKS[side]] for side in drawn])
    files.images.append({"id": image_id, "file_name": file_name, "width": view.width, "height": view.height,
                         "capture": frame.capture, "subject": frame.subject, "seq_name": frame.seq_name,
                         "camera": camera.name, "frame_idx": frame.frame_idx})
    bbox = annotation_bbox(joints_img, valid, drawn_joints)
    files.annotations.append({"id": image_id, "image_id": image_id, "bbox": bbox,
                              "joint_valid": [[int(v)] for v in valid], "hand_type": frame.hand_type,
                              "hand_type_valid": int(frame.hand_type != "interacting" or valid.sum() > 30)})
    if split in ("val", "test"):
        files.rootnet.append(_rootnet_record(image_id, bbox, joints_cam, frame, rng))


def annotation_bbox(joints_img: np.ndarray, valid: np.ndarray, drawn_joints: np.ndarray) -> list[float]:
    """The annotation's box: the valid joints' tight box, or the drawn hands' where the valid joints span no area
    (none, or a single one at the image border), which the original's datalist would drop and `interhand
    shards` rejects."""
    if valid.any():
        bbox = tight_bbox(joints_img[np.flatnonzero(valid)])
        if bbox[2] > 0 and bbox[3] > 0:
            return bbox
    return tight_bbox(joints_img[drawn_joints])


def _rootnet_record(image_id: int, bbox: list[float], joints_cam: np.ndarray, frame: SynthFrame,
                    rng: np.random.Generator) -> dict:
    """RootNet output: the GT box through process_bbox (#91, #94) and noisy absolute wrist depths."""
    depth = {side: float(joints_cam[IH26M_ROOT[side], 2]) for side in ("right", "left")}
    present = drawn_hands(frame.hand_type)
    estimate = {side: depth[side if side in present else present[0]] + rng.normal(0, _ROOTNET_DEPTH_NOISE_MM)
                for side in ("right", "left")}
    return {"annot_id": image_id, "bbox": as_float32_list(process_bbox(np.array(bbox, dtype=np.float64))),
            "abs_depth": as_float32_list([estimate["right"], estimate["left"]]),
            "root_valid": as_float32_list([float(side in present) for side in ("right", "left")])}


def _write_split(config: SynthConfig, root: Path, split: str, files: _SplitFiles) -> None:
    annotations = root / "annotations"
    name = f"InterHand2.6M_{split}"
    if config.layout in ("v1.0", "both"):
        folder = annotations / split
        write_json(folder / f"{name}_data.json", {"images": files.images, "annotations": files.annotations})
        write_json(folder / f"{name}_camera.json", files.cameras)
        write_json(folder / f"{name}_joint_3d.json", files.joints)
        write_json(folder / f"{name}_MANO_NeuralAnnot.json", files.mano)
        if split in ("val", "test"):
            write_json(root / "rootnet_output" / f"rootnet_interhand2.6m_output_{split}.json", files.rootnet)
        if split != "val":
            write_text(root / f"aid_human_annot_{split}.txt", "".join(f"{i}\n" for i in sorted(files.human_ids)))
    if config.layout in ("v0.0", "both"):
        _write_v0_split(root, split, files)


def _write_v0_split(root: Path, split: str, files: _SplitFiles) -> None:
    """v0.0: `annotations/{all,human_annot,machine_annot}/`; val exists only as machine annotation (M)."""
    name = f"InterHand2.6M_{split}"
    subsets = {"all": None, "machine_annot": False} if split == "val" else {"all": None, "human_annot": True,
                                                                            "machine_annot": False}
    for subset, human in subsets.items():
        keep = {a["id"] for a in files.annotations if human is None or (a["id"] in files.human_ids) == human}
        folder = root / "annotations" / subset
        write_json(folder / f"{name}_data.json", {"images": [i for i in files.images if i["id"] in keep],
                                                  "annotations": [a for a in files.annotations if a["id"] in keep]})
        write_json(folder / f"{name}_camera.json", files.cameras)
        write_json(folder / f"{name}_joint_3d.json", files.joints_v0)
    rootnet_names = {"val": "rootnet_interhand2.6m_output_machine_annot_val.json",
                     "test": "rootnet_interhand2.6m_output_all_test.json"}
    if split in rootnet_names:
        write_json(root / "rootnet_output" / rootnet_names[split], files.rootnet)
