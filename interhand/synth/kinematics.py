"""Articulated hands: a 21-joint skeleton driven by per-finger flexion, posed in the world.

Joints come out in the InterHand2.6M per-hand order (`annotations/skeleton.txt`): thumb4..thumb1,
index4..1, middle4..1, ring4..1, pinky4..1, wrist; millimetres. The hand-local frame of a right hand:
x towards the thumb (radial), y along the fingers (distal), z out of the back of the hand; fingers
flex towards −z. A left hand is the mirror image (x → −x), so it is a true left hand, not a relabel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interhand.skeleton import JOINTS_PER_HAND

__all__ = ["POSE_LIBRARY", "HandShape", "random_hand_shape", "hand_joints_local", "pose_hand",
           "rotation_from_axis_angle", "axis_angle_from_rotation", "random_rotation", "blend_poses"]

# Finger bases (MCP; thumb: CMC) relative to the wrist, right hand, mm; and the fan angle of each
# finger's rest direction (degrees from +y towards +x).
_BASES_MM = np.array([[24.0, 22.0, -6.0], [22.0, 88.0, 0.0], [3.0, 92.0, 0.0], [-15.0, 86.0, 0.0],
                      [-31.0, 76.0, 0.0]])
_FAN_DEG = np.array([48.0, 8.0, 0.0, -8.0, -18.0])
# Segment lengths base→2→3→tip per finger, mm (an adult hand; scaled per subject).
_SEGMENTS_MM = np.array([[38.0, 32.0, 27.0], [40.0, 24.0, 20.0], [44.0, 28.0, 21.0], [41.0, 27.0, 21.0],
                         [33.0, 20.0, 19.0]])

# Named poses: per finger (thumb, index, middle, ring, pinky) the angles in degrees of
# (abduction at the base, flexion at base, at joint 2, at joint 3).
POSE_LIBRARY: dict[str, np.ndarray] = {
    name: np.array(rows, dtype=np.float64)
    for name, rows in {
        "open": [[0, 5, 5, 5], [4, 5, 5, 5], [0, 5, 5, 5], [-4, 5, 5, 5], [-8, 5, 5, 5]],
        "spread": [[15, 0, 0, 0], [14, 0, 0, 0], [0, 0, 0, 0], [-12, 0, 0, 0], [-22, 0, 0, 0]],
        "relaxed": [[5, 15, 20, 15], [2, 20, 30, 20], [0, 25, 35, 20], [-3, 30, 40, 25], [-6, 35, 40, 25]],
        "fist": [[-20, 30, 50, 40], [0, 85, 100, 60], [0, 88, 100, 60], [0, 90, 100, 60], [0, 90, 95, 60]],
        "point": [[-20, 30, 50, 40], [0, 5, 5, 5], [0, 88, 100, 60], [0, 90, 100, 60], [0, 90, 95, 60]],
        "peace": [[-20, 30, 50, 40], [10, 5, 5, 5], [-8, 5, 5, 5], [0, 90, 100, 60], [0, 90, 95, 60]],
        "thumbup": [[20, -10, 0, 0], [0, 85, 100, 60], [0, 88, 100, 60], [0, 90, 100, 60], [0, 90, 95, 60]],
        "pinch": [[-10, 25, 30, 25], [0, 40, 50, 30], [0, 15, 15, 10], [-3, 15, 15, 10], [-6, 15, 15, 10]],
        "claw": [[5, 10, 40, 40], [3, 10, 70, 60], [0, 10, 70, 60], [-3, 10, 70, 60], [-6, 10, 70, 60]],
        "ok": [[-10, 30, 35, 30], [0, 45, 60, 40], [-2, 5, 5, 5], [-5, 5, 5, 5], [-10, 5, 5, 5]],
    }.items()
}


@dataclass(frozen=True)
class HandShape:
    """One subject's hand: a global scale and per-segment length factors."""

    scale: float
    segment_factors: np.ndarray  # (5, 3)


def random_hand_shape(rng: np.random.Generator) -> HandShape:
    return HandShape(scale=float(rng.uniform(0.85, 1.02)), segment_factors=rng.uniform(0.94, 1.06, size=(5, 3)))


def _rot_x(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def hand_joints_local(pose_deg: np.ndarray, shape: HandShape) -> np.ndarray:
    """(5, 4) finger angles in degrees → (21, 3) right-hand joints in the hand-local frame, mm."""
    joints = np.zeros((JOINTS_PER_HAND, 3))  # the wrist, last, stays at the origin
    pose_rad = np.deg2rad(pose_deg)
    for finger in range(5):
        abduction, *flexions = pose_rad[finger]
        # Fan out in the palm plane; the thumb also leans towards the palm side.
        frame = _rot_z(-np.deg2rad(_FAN_DEG[finger]) - abduction)
        if finger == 0:
            frame = frame @ _rot_x(-0.45)
        position = _BASES_MM[finger] * shape.scale
        chain = [position]
        for segment, flexion in enumerate(flexions):
            frame = frame @ _rot_x(-flexion)
            length = _SEGMENTS_MM[finger, segment] * shape.segment_factors[finger, segment] * shape.scale
            position = position + length * frame[:, 1]
            chain.append(position)
        # IH26M order per finger: tip (4), 3, 2, base (1).
        joints[4 * finger: 4 * finger + 4] = np.stack(chain[::-1])
    return joints


def pose_hand(joints_local_mm: np.ndarray, side: str, rotation: np.ndarray, wrist_world_mm: np.ndarray) -> np.ndarray:
    """Place local right-hand joints in the world as a `side` hand: mirror if left, rotate, translate."""
    joints = joints_local_mm.copy()
    if side == "left":
        joints[:, 0] *= -1.0
    return joints @ rotation.T + np.asarray(wrist_world_mm).reshape(1, 3)


def rotation_from_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues: axis-angle (3,) in radians → 3×3 rotation."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle)
    if angle < 1e-12:
        return np.eye(3)
    k = axis_angle / angle
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def axis_angle_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """3×3 rotation → axis-angle (3,), radians (angle in [0, π])."""
    cos_angle = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos_angle)
    if angle < 1e-9:
        return np.zeros(3)
    vector = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                       rotation[1, 0] - rotation[0, 1]])
    if np.sin(angle) < 1e-6:  # angle ≈ π: take the axis from the symmetric part
        axis = np.sqrt(np.maximum((np.diag(rotation) + 1.0) / 2.0, 0.0))
        return axis * angle
    return vector / (2.0 * np.sin(angle)) * angle


def random_rotation(rng: np.random.Generator, max_tilt_deg: float = 50.0) -> np.ndarray:
    """A hand orientation: fingers roughly up (world −y), any yaw, tilted by up to `max_tilt_deg`."""
    # Local +y (fingers) → world −y (up); local z (back of hand) → world +z before yaw/tilt.
    upright = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    yaw = rotation_from_axis_angle(np.array([0.0, rng.uniform(-np.pi, np.pi), 0.0]))
    tilt_axis = rng.normal(size=3)
    tilt_axis[1] = 0.0
    tilt_axis /= np.linalg.norm(tilt_axis) + 1e-12
    tilt = rotation_from_axis_angle(tilt_axis * np.deg2rad(rng.uniform(0.0, max_tilt_deg)))
    return tilt @ yaw @ upright


def blend_poses(pose_a: np.ndarray, pose_b: np.ndarray, weight: float) -> np.ndarray:
    """Cosine-eased interpolation between two (5, 4) poses; weight in [0, 1]."""
    eased = 0.5 - 0.5 * np.cos(np.pi * np.clip(weight, 0.0, 1.0))
    return (1.0 - eased) * pose_a + eased * pose_b
