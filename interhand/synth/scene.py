"""Captures, camera rigs and sequences of posed hands: everything about a frame except its pixels.

World frame as in InterHand2.6M: millimetres, y pointing down, hands about a metre from the origin
(the real captures have campos within ~1 m of the origin and hands at z ≈ 1000–1100 mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interhand.geometry.camera import look_at_rotation
from interhand.skeleton import IH26M_ROOT, IH26M_WRIST_IN_HAND, LEFT, NUM_JOINTS, RIGHT
from interhand.synth.kinematics import (
    POSE_LIBRARY,
    HandShape,
    axis_angle_from_rotation,
    blend_poses,
    hand_joints_local,
    pose_hand,
    random_hand_shape,
    random_rotation,
    rotation_from_axis_angle,
)
from interhand.synth.render import SKIN_TONES, CameraView, HandAppearance, make_background

__all__ = ["SynthCamera", "SynthFrame", "CaptureLook", "make_rig", "make_capture_frames", "capture_look",
           "drawn_hands", "ABSENT_JOINT_MM", "SCENE_CENTRE_MM"]

SCENE_CENTRE_MM = np.array([0.0, -20.0, 1000.0])
# What the real files hold for the joints of an absent hand (single-hand frames): [1, 1, 1] per joint.
ABSENT_JOINT_MM = 1.0
_POSE_NAMES = tuple(POSE_LIBRARY)
_LOOK_STREAM = 7
# Wrists sit below the scene centre (world y points down) so that the hands, not the wrists, are centred.
_WRIST_BELOW_CENTRE_MM = np.array([0.0, 85.0, 0.0])


@dataclass(frozen=True)
class SynthCamera:
    name: str  # six digits; 41xxxx cameras are monochrome
    view: CameraView
    gray: bool


@dataclass
class SynthFrame:
    capture: int
    subject: int
    frame_idx: int
    seq_name: str
    hand_type: str  # right | left | interacting (from the sequence)
    joints_world_mm: np.ndarray  # (42, 3), IH26M order; absent hand = ABSENT_JOINT_MM
    valid_3d: np.ndarray  # (42,) bool: annotated in 3D
    mano: dict[str, dict | None] = field(default_factory=dict)


def make_rig(rng: np.random.Generator, num_cameras: int, centre_mm: np.ndarray) -> list[SynthCamera]:
    """A ring of calibrated cameras around `centre_mm`; every third one gray, sizes alternate portrait/landscape."""
    cameras = []
    azimuth0 = rng.uniform(0, 2 * np.pi)
    for index in range(num_cameras):
        gray = index % 3 == 2
        name = f"{410001 + 3 * index:06d}" if gray else f"{400002 + 4 * index:06d}"
        azimuth = azimuth0 + 2 * np.pi * index / num_cameras + rng.normal(0, 0.08)
        elevation = rng.uniform(-0.25, 0.45)
        radius = rng.uniform(1000, 1250)
        direction = np.array([np.sin(azimuth) * np.cos(elevation), -np.sin(elevation),
                              -np.cos(azimuth) * np.cos(elevation)])
        campos = centre_mm + radius * direction
        camrot = look_at_rotation(campos, centre_mm + rng.normal(0, 25, size=3))
        width, height = (334, 512) if index % 2 == 0 else (512, 334)
        focal = rng.normal(1265, 6) + rng.normal(0, 0.2, size=2)
        princpt = np.array([width / 2.0, height / 2.0]) + rng.normal(0, 12, size=2)
        cameras.append(SynthCamera(name, CameraView(camrot, campos, focal, princpt, width, height), gray))
    return cameras


@dataclass(frozen=True)
class CaptureLook:
    """What a capture looks like: the subject's skin and sleeve, the light, each camera's background."""

    appearance: HandAppearance
    light_dir: np.ndarray  # (3,) unit, camera frame, towards the light
    backgrounds: dict[str, np.ndarray]  # camera name → (H, W, 3) uint8


def capture_look(seed: int, split_index: int, capture: int, rig: list[SynthCamera]) -> CaptureLook:
    """The look of a capture, from its own random stream: with the files' geometry and the seed it
    reproduces every frame exactly (the tests re-render the JPEGs from the annotations this way)."""
    rng = np.random.default_rng([seed, split_index, capture, _LOOK_STREAM])
    appearance = HandAppearance(skin_rgb=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05, size=3),
                                sleeve_rgb=rng.uniform(20, 230, size=3))
    light = rng.normal(size=3) * 0.3 + np.array([-0.3, -0.6, -0.75])
    backgrounds = {cam.name: make_background(rng, cam.view.width, cam.view.height) for cam in rig}
    return CaptureLook(appearance, light / np.linalg.norm(light), backgrounds)


def drawn_hands(hand_type: str) -> tuple[str, ...]:
    """Hands in the picture: both for interacting sequences (even where one failed annotation), else one."""
    return ("right", "left") if hand_type == "interacting" else (hand_type,)


def _sequence_name(number: int, hand_type: str, pose_a: str, pose_b: str) -> str:
    if hand_type == "interacting":
        return f"{number:04d}_dh_{pose_a}_{pose_b}"
    return f"{number:04d}_{pose_a}_{pose_b}_{'rt' if hand_type == 'right' else 'lt'}"


def _mano_params(rotation: np.ndarray, pose_deg: np.ndarray, wrist_mm: np.ndarray, betas: np.ndarray) -> dict:
    """Plausible NeuralAnnot-style parameters (world frame): pose 48 (axis-angle), shape 10, trans 3 (metres)."""
    finger_rad = np.deg2rad(pose_deg)
    joints = [[-flex, 0.0, abduction if level == 0 else 0.0]
              for abduction, *flexions in finger_rad for level, flex in enumerate(flexions)]
    pose = np.concatenate([axis_angle_from_rotation(rotation), np.asarray(joints).ravel()])
    return {"pose": pose.tolist(), "shape": betas.tolist(), "trans": (np.asarray(wrist_mm) / 1000.0).tolist()}


class _HandTrack:
    """One hand's motion through a sequence: pose keyframes, rotation and wrist drift."""

    def __init__(self, rng: np.random.Generator, shape: HandShape, wrist_mm: np.ndarray):
        self.shape = shape
        self.name_a, self.name_b = (str(name) for name in rng.choice(_POSE_NAMES, 2))
        self.pose_a = POSE_LIBRARY[self.name_a] + rng.normal(0, 6, size=(5, 4))
        self.pose_b = POSE_LIBRARY[self.name_b] + rng.normal(0, 6, size=(5, 4))
        self.rotation = random_rotation(rng)
        self.spin = rng.normal(0, 0.25, size=3)  # axis-angle over the whole sequence, rad
        self.wrist_mm = wrist_mm
        self.drift_mm = rng.normal(0, 20, size=3)

    def at(self, phase: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pose = blend_poses(self.pose_a, self.pose_b, phase)
        rotation = rotation_from_axis_angle(self.spin * phase) @ self.rotation
        return pose, rotation, self.wrist_mm + self.drift_mm * phase


def make_capture_frames(rng: np.random.Generator, capture: int, subject: int, num_frames: int,
                        centre_mm: np.ndarray) -> list[SynthFrame]:
    """`num_frames` time frames of one capture, in sequences of right-only, left-only and interacting hands."""
    shape = random_hand_shape(rng)
    betas = rng.normal(0, 0.8, size=10)
    frames: list[SynthFrame] = []
    frame_idx = int(rng.integers(100, 3000))
    hand_types = ("right", "left", "interacting")
    sequence_number = int(rng.integers(1, 400))
    sequence_count, failed_once = 0, False
    while len(frames) < num_frames:
        # The first three sequences of a capture cover every hand type; then draw at random.
        hand_type = hand_types[(sequence_count + capture) % 3] if sequence_count < 3 \
            else str(rng.choice(hand_types, p=[0.3, 0.3, 0.4]))
        sequence_count += 1
        length = min(int(rng.integers(3, 8)), num_frames - len(frames))
        sides = drawn_hands(hand_type)
        tracks = {side: _HandTrack(rng, shape, centre_mm + _WRIST_BELOW_CENTRE_MM + rng.normal(0, 30, size=3))
                  for side in sides}
        sequence_number += int(rng.integers(1, 30))
        first = next(iter(tracks.values()))
        seq_name = _sequence_name(sequence_number, hand_type, first.name_a, first.name_b)
        for step in range(length):
            # Every capture has at least one interacting frame with a failed hand (hand_type_valid 0).
            fail_a_hand = hand_type == "interacting" and step == length - 1 and not failed_once
            failed_once |= fail_a_hand
            frames.append(_posed_frame(rng, capture, subject, frame_idx, seq_name, hand_type, tracks,
                                       step / max(length - 1, 1), betas, fail_a_hand))
            frame_idx += 6  # 5 fps: every 6th frame of the 30 fps capture
        frame_idx += int(rng.integers(50, 400))
    return frames


def _posed_frame(rng, capture, subject, frame_idx, seq_name, hand_type, tracks, phase, betas,
                 fail_a_hand: bool) -> SynthFrame:
    joints = np.full((NUM_JOINTS, 3), ABSENT_JOINT_MM)
    valid = np.zeros(NUM_JOINTS, dtype=bool)
    mano: dict[str, dict | None] = {"right": None, "left": None}
    placed: dict[str, np.ndarray] = {}
    for side, track in tracks.items():
        pose, rotation, wrist = track.at(phase)
        local = hand_joints_local(pose, track.shape)
        if side == "left" and "right" in placed:
            # Interacting: bring the left palm next to the right one so that the hands overlap in most views.
            right_palm = placed["right"][[7, 11, 15, 19, 20]].mean(axis=0)
            trial = pose_hand(local, side, rotation, np.zeros(3))
            wrist = right_palm + _unit(rng.normal(size=3)) * rng.uniform(35, 85) \
                - trial[[7, 11, 15, 19, 20]].mean(axis=0)
        world = pose_hand(local, side, rotation, wrist)
        placed[side] = world
        block = RIGHT if side == "right" else LEFT
        joints[block] = world
        valid[block] = True
        mano[side] = _mano_params(rotation, pose, world[IH26M_WRIST_IN_HAND], betas)
    _annotation_failures(rng, hand_type, valid, mano, fail_a_hand)
    return SynthFrame(capture, subject, frame_idx, seq_name, hand_type, joints, valid, mano)


def _annotation_failures(rng: np.random.Generator, hand_type: str, valid: np.ndarray, mano: dict,
                         fail_a_hand: bool) -> None:
    """Real annotations fail: whole hands of interacting frames (#99, #113) and a few single joints."""
    if hand_type == "interacting" and (fail_a_hand or rng.random() < 0.08):
        side = str(rng.choice(["right", "left"]))
        valid[RIGHT if side == "right" else LEFT] = False
        mano[side] = None
    if rng.random() < 0.1:
        candidates = np.flatnonzero(valid)
        candidates = candidates[~np.isin(candidates, list(IH26M_ROOT.values()))]
        if len(candidates):
            valid[rng.choice(candidates, size=min(len(candidates), int(rng.integers(1, 4))), replace=False)] = False


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) + 1e-12)
