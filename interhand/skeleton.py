"""Joint sets: names, parents, hand blocks and flip permutations (`annotations/skeleton.txt`; the original's `data/STB/dataset.py`, `data/RHD/dataset.py`).

InterHand2.6M order, per hand fingertip first: thumb4..thumb1, index4..1, middle4..1, ring4..1,
pinky4..1, wrist; right hand 0..20 (wrist 20), left hand 21..41 (wrist 41).
STB and RHD use another order: left hand first, wrist first, then each finger tip to base.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "JOINTS_PER_HAND",
    "NUM_JOINTS",
    "FINGERS",
    "RIGHT",
    "LEFT",
    "IH26M_JOINT_NAMES",
    "IH26M_PARENTS",
    "IH26M_ROOT",
    "IH26M_WRIST_IN_HAND",
    "in_ih26m_order",
    "STB_RHD_JOINT_NAMES",
    "STB_RHD_PARENTS",
    "STB_RHD_ROOT",
    "FLIP_PERMUTATION",
    "HAND_TYPE_VECTORS",
    "IH26M_FINGER_OF_JOINT",
    "skeleton_txt",
]

JOINTS_PER_HAND = 21
NUM_JOINTS = 2 * JOINTS_PER_HAND
FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# InterHand2.6M: right hand block first.
RIGHT = slice(0, JOINTS_PER_HAND)
LEFT = slice(JOINTS_PER_HAND, NUM_JOINTS)
IH26M_WRIST_IN_HAND = JOINTS_PER_HAND - 1  # the wrist closes each IH26M hand block
IH26M_ROOT = {"right": RIGHT.start + IH26M_WRIST_IN_HAND, "left": LEFT.start + IH26M_WRIST_IN_HAND}  # 20, 41


def _ih26m_hand(prefix: str, offset: int) -> tuple[list[str], list[int]]:
    names, parents = [], []
    wrist = offset + IH26M_WRIST_IN_HAND
    for finger_index, finger in enumerate(FINGERS):
        for level in (4, 3, 2, 1):
            joint_id = offset + 4 * finger_index + (4 - level)
            names.append(f"{prefix}_{finger}{level}")
            parents.append(wrist if level == 1 else joint_id + 1)
    names.append(f"{prefix}_wrist")
    parents.append(-1)
    return names, parents


def _stb_rhd_hand(prefix: str, offset: int) -> tuple[list[str], list[int]]:
    names, parents = [f"{prefix}_wrist"], [-1]
    for finger_index, finger in enumerate(FINGERS):
        for level in (4, 3, 2, 1):
            joint_id = offset + 1 + 4 * finger_index + (4 - level)
            names.append(f"{prefix}_{finger}{level}")
            parents.append(offset if level == 1 else joint_id + 1)
    return names, parents


_right_names, _right_parents = _ih26m_hand("r", 0)
_left_names, _left_parents = _ih26m_hand("l", JOINTS_PER_HAND)
IH26M_JOINT_NAMES: tuple[str, ...] = tuple(_right_names + _left_names)
IH26M_PARENTS: tuple[int, ...] = tuple(_right_parents + _left_parents)

# STB / RHD (parsed COCO releases of the original repository): left hand 0..20, right 21..41.
_stb_left_names, _stb_left_parents = _stb_rhd_hand("l", 0)
_stb_right_names, _stb_right_parents = _stb_rhd_hand("r", JOINTS_PER_HAND)
STB_RHD_JOINT_NAMES: tuple[str, ...] = tuple(_stb_left_names + _stb_right_names)
STB_RHD_PARENTS: tuple[int, ...] = tuple(_stb_left_parents + _stb_right_parents)
STB_RHD_ROOT = {"left": 0, "right": 21}

# The hand-type label as the original encodes it: [right, left] (the original's `data/InterHand2.6M/dataset.py`).
HAND_TYPE_VECTORS = {"right": (1.0, 0.0), "left": (0.0, 1.0), "interacting": (1.0, 1.0)}

# A horizontal flip turns a right hand into a left one: swap the two 21-joint blocks.
FLIP_PERMUTATION = np.concatenate([np.arange(JOINTS_PER_HAND, NUM_JOINTS), np.arange(0, JOINTS_PER_HAND)])

# Index of each joint's finger (0..4) and level (4 = tip .. 1 = base, 0 = wrist) in the IH26M order,
# for drawing and for the synthetic renderer.
IH26M_FINGER_OF_JOINT = np.array([min(i % JOINTS_PER_HAND // 4, 5) for i in range(NUM_JOINTS)])


def in_ih26m_order(root_joint_index: np.ndarray) -> np.ndarray:
    """bool (...,): whether (..., 2) [right wrist, left wrist] indices are InterHand2.6M's (20, 41), the
    only order whose samples supervise the relative root depth (STB/RHD are single-hand)."""
    roots = np.asarray(root_joint_index)
    return (roots[..., 0] == IH26M_ROOT["right"]) & (roots[..., 1] == IH26M_ROOT["left"])


def skeleton_txt(names: tuple[str, ...], parents: tuple[int, ...]) -> str:
    """The dataset's `skeleton.txt`: a `#` header, then `name id parent_id` per line."""
    lines = ["# joint_name joint_id joint_parent_id"]
    lines += [f"{name} {joint_id} {parent}" for joint_id, (name, parent) in enumerate(zip(names, parents))]
    return "\n".join(lines) + "\n"
