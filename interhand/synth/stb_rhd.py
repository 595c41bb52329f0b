"""STB and RHD writers: the parsed COCO-style releases the original loaders read (`data/STB/dataset.py`,
`data/RHD/dataset.py`).

Single hands mapped into the 42-joint structure the other way round from InterHand2.6M: left hand
0..20, right 21..41, wrist first (interhand.skeleton.STB_RHD_*). Each annotation is one hand; an RHD
image with two hands has two annotations. Images are PNG: STB 640×480, RHD 320×320.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interhand.config import SynthConfig
from interhand.geometry.bbox import process_bbox
from interhand.geometry.camera import camera_to_pixel
from interhand.outputs import make_folder, write_text
from interhand.skeleton import IH26M_WRIST_IN_HAND, STB_RHD_JOINT_NAMES, STB_RHD_PARENTS, skeleton_txt
from interhand.synth.common import as_float32_list, inside_image, save_png, tight_bbox, write_json
from interhand.synth.kinematics import POSE_LIBRARY, hand_joints_local, pose_hand, random_hand_shape, random_rotation
from interhand.synth.render import SKIN_TONES, CameraView, HandAppearance, make_background, render_hands

__all__ = ["write_stb", "write_rhd", "IH26M_TO_STB_RHD_HAND"]

# Per-hand reordering: STB/RHD hand = IH26M hand[[wrist, thumb4, thumb3, ..., pinky1]].
IH26M_TO_STB_RHD_HAND = np.array([IH26M_WRIST_IN_HAND] + list(range(IH26M_WRIST_IN_HAND)))
_POSE_NAMES = tuple(POSE_LIBRARY)
_STB_SEQUENCES = {"train": [f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random")],
                  "test": ["B1Counting", "B1Random"]}


@dataclass(frozen=True)
class _Dataset:
    name: str
    width: int
    height: int
    depth_range_mm: tuple[float, float]
    two_hand_probability: float


_STB = _Dataset("STB", 640, 480, (380.0, 560.0), 0.0)
_RHD = _Dataset("RHD", 320, 320, (350.0, 800.0), 0.3)


def _random_hand(rng: np.random.Generator, side: str, spec: _Dataset, focal: np.ndarray) -> np.ndarray:
    """One posed hand in camera coordinates (= world here), IH26M per-hand order, mm."""
    pose = POSE_LIBRARY[str(rng.choice(_POSE_NAMES))] + rng.normal(0, 8, size=(5, 4))
    depth = rng.uniform(*spec.depth_range_mm)
    # Keep the hand's centre well inside the frame: lateral offset limited by the field of view.
    half_fov = np.array([spec.width, spec.height]) / 2.0 / focal * depth * 0.55
    wrist = np.array([rng.uniform(-1, 1) * half_fov[0], rng.uniform(-0.2, 1) * half_fov[1], depth])
    return pose_hand(hand_joints_local(pose, random_hand_shape(rng)), side, random_rotation(rng, 60.0), wrist)


def _write(config: SynthConfig, root: Path, spec: _Dataset, splits: dict[str, str], progress) -> dict[str, int]:
    data = root / "data"
    make_folder(data)
    write_text(data / "skeleton.txt", skeleton_txt(STB_RHD_JOINT_NAMES, STB_RHD_PARENTS))
    counts = {}
    for split_index, (split, annotation_name) in enumerate(splits.items()):
        rng = np.random.default_rng([config.seed, split_index, 17])
        images, annotations, rootnet = [], [], []
        sequences = _STB_SEQUENCES[split] if spec is _STB else [None]
        backgrounds = {seq: make_background(rng, spec.width, spec.height) for seq in sequences}
        for index in range(config.frames):
            seq_name = sequences[index * len(sequences) // config.frames]
            background = backgrounds[seq_name] if spec is _STB else make_background(rng, spec.width, spec.height)
            focal = np.array([607.92, 607.88]) if spec is _STB else np.full(2, rng.uniform(270, 300))
            princpt = np.array([314.78, 236.42]) if spec is _STB else np.array([160.0, 160.0]) + rng.normal(0, 1.5, 2)
            sides = (["left", "right"] if rng.random() < spec.two_hand_probability
                     else [str(rng.choice(["left", "right"]))])
            hands = {side: _random_hand(rng, side, spec, focal) for side in sides}
            view = CameraView(np.eye(3), np.zeros(3), focal, princpt, spec.width, spec.height)
            skin = SKIN_TONES[rng.integers(len(SKIN_TONES))]
            appearance = HandAppearance(skin_rgb=skin, sleeve_rgb=rng.uniform(20, 230, size=3))
            light = np.array([-0.3, -0.6, -0.75]) + rng.normal(0, 0.2, size=3)
            image, _ = render_hands(background, list(hands.values()), list(hands), [appearance] * len(hands), view,
                                    light / np.linalg.norm(light))
            file_name = f"SK_color_{index}.png" if spec is _STB else f"{index:05d}.png"
            image_path = data / "images" / seq_name / file_name if spec is _STB else data / split / "color" / file_name
            save_png(image_path, image)
            image_id = len(images)
            record = {"id": image_id, "file_name": file_name, "width": spec.width, "height": spec.height}
            if spec is _STB:
                record["seq_name"] = seq_name
            record["cam_param"] = {"focal": as_float32_list(focal), "princpt": as_float32_list(princpt)}
            images.append(record)
            for side, joints_ih in hands.items():
                joints_cam = joints_ih[IH26M_TO_STB_RHD_HAND]
                joints_img = camera_to_pixel(joints_cam, focal, princpt)
                valid = inside_image(joints_img, spec.width, spec.height)
                annotation_id = len(annotations)
                bbox = tight_bbox(joints_img[valid] if valid.any() else joints_img)
                annotations.append({"id": annotation_id, "image_id": image_id, "bbox": bbox,
                                    "joint_img": as_float32_list(joints_img), "joint_cam": as_float32_list(joints_cam),
                                    "joint_valid": [int(v) for v in valid], "hand_type": side})
                rootnet.append({"annot_id": annotation_id,
                                "bbox": as_float32_list(process_bbox(np.array(bbox, dtype=np.float64))),
                                "abs_depth": float(np.float32(joints_cam[0, 2] + rng.normal(0, 15.0)))})
            if progress is not None:
                progress.update(1)
        write_json(data / annotation_name, {"images": images, "annotations": annotations})
        if split in ("test", "evaluation"):
            write_json(root / "rootnet_output" / f"rootnet_{spec.name.lower()}_output.json", rootnet)
        counts[split] = len(annotations)
    return counts


def write_stb(config: SynthConfig, root: Path, progress=None) -> dict[str, int]:
    """`root/data/STB_{train,test}.json`, `root/data/images/<seq_name>/SK_color_<i>.png`, RootNet for test."""
    return _write(config, root, _STB, {"train": "STB_train.json", "test": "STB_test.json"}, progress)


def write_rhd(config: SynthConfig, root: Path, progress=None) -> dict[str, int]:
    """`root/data/RHD_{training,evaluation}.json`, `root/data/<set>/color/<i>.png`, RootNet for evaluation."""
    return _write(config, root, _RHD, {"training": "RHD_training.json", "evaluation": "RHD_evaluation.json"},
                  progress)
