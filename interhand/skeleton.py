"""Joint sets: names, parents, hand blocks and flip permutations (`annotations/skeleton.txt`; the original's
`data/STB/dataset.py`, `data/RHD/dataset.py`).

InterHand2.6M order, per hand fingertip first: thumb4..thumb1, index4..1, middle4..1, ring4..1,
pinky4..1, wrist; right hand 0..20 (wrist 20), left hand 21..41 (wrist 41).
STB and RHD use another order: left hand first, wrist first, then each finger tip to base.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "JOINTS_PER_HAND",
    "NUM_JOINTS",
    "FINGERS",
    "JointOrder",
    "IH26M",
    "STB_RHD",
    "joint_order",
    "hand_block_of",
    "right_hand_joints",
    "block_root_index",
    "block_wrists",
    "hand_block_columns",
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
HANDS = ("right", "left")
IH26M_WRIST_IN_HAND = JOINTS_PER_HAND - 1  # the wrist closes each IH26M hand block


def hand_block_of(joint_index: int) -> slice:
    """The 21-joint block that a joint (a hand's wrist) lies in: each hand is the block that holds its wrist."""
    start = JOINTS_PER_HAND * (int(joint_index) // JOINTS_PER_HAND)
    return slice(start, start + JOINTS_PER_HAND)


@dataclass(frozen=True)
class JointOrder:
    """One 42-joint order: joint names, parents (-1 at a wrist) and each hand's wrist; its hand blocks follow."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    roots: dict[str, int]  # hand -> its wrist's index

    @property
    def blocks(self) -> dict[str, slice]:
        """hand -> the slice of its 21 joints, right first."""
        return {hand: hand_block_of(self.roots[hand]) for hand in HANDS}

    @property
    def root_joint_index(self) -> tuple[int, int]:
        """[right wrist, left wrist], as a sample's `root_joint_index` holds them."""
        return self.roots["right"], self.roots["left"]


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


def _joint_order(first: tuple[list[str], list[int]], second: tuple[list[str], list[int]],
                 roots: dict[str, int]) -> JointOrder:
    return JointOrder(tuple(first[0] + second[0]), tuple(first[1] + second[1]), roots)


# InterHand2.6M: right hand block first, each hand's wrist last (20, 41).
IH26M = _joint_order(_ih26m_hand("r", 0), _ih26m_hand("l", JOINTS_PER_HAND),
                     {"right": IH26M_WRIST_IN_HAND, "left": JOINTS_PER_HAND + IH26M_WRIST_IN_HAND})
# STB / RHD (parsed COCO releases of the original repository): left hand 0..20, right 21..41, wrist first.
STB_RHD = _joint_order(_stb_rhd_hand("l", 0), _stb_rhd_hand("r", JOINTS_PER_HAND),
                       {"left": 0, "right": JOINTS_PER_HAND})


def joint_order(ih26m_order: bool) -> JointOrder:
    """IH26M, or STB_RHD (see `in_ih26m_order`)."""
    return IH26M if ih26m_order else STB_RHD


def right_hand_joints(root_joint_index: np.ndarray) -> np.ndarray:
    """bool (..., 42): which joints are the right hand's, from (..., 2) [right wrist, left wrist] indices: the
    21-joint block that holds the right wrist (`hand_block_of`); the other block is the left hand's. Works for both
    joint orders."""
    right_block = np.asarray(root_joint_index).astype(np.int64)[..., :1] // JOINTS_PER_HAND
    return np.arange(NUM_JOINTS) // JOINTS_PER_HAND == right_block


def block_root_index(root_joint_index: np.ndarray) -> np.ndarray:
    """(..., 42) index of each joint's own wrist, from (..., 2) [right wrist, left wrist] indices (both orders)."""
    roots = np.asarray(root_joint_index).astype(np.int64)
    return np.where(right_hand_joints(roots), roots[..., :1], roots[..., 1:2])


def block_wrists(root_joint_index: np.ndarray) -> np.ndarray:
    """(..., 2) index of the wrist of each 21-joint block (block 0: joints 0-20, block 1: 21-41), from (..., 2)
    [right wrist, left wrist] indices (both orders): `block_root_index` once per block instead of once per joint."""
    roots = np.asarray(root_joint_index).astype(np.int64)
    return np.where(roots[..., :1] // JOINTS_PER_HAND == 0, roots, roots[..., ::-1])


def hand_block_columns(joint_index: np.ndarray) -> np.ndarray:
    """(N, 21) joint indices of the 21-joint block that holds each of N joints (`hand_block_of`, vectorised)."""
    block_start = np.asarray(joint_index).astype(np.int64) // JOINTS_PER_HAND * JOINTS_PER_HAND
    return block_start[:, None] + np.arange(JOINTS_PER_HAND)[None, :]


# The module constants other code uses, from the two orders.
RIGHT, LEFT = IH26M.blocks["right"], IH26M.blocks["left"]
IH26M_JOINT_NAMES, IH26M_PARENTS, IH26M_ROOT = IH26M.names, IH26M.parents, IH26M.roots  # IH26M_ROOT: 20, 41
STB_RHD_JOINT_NAMES, STB_RHD_PARENTS, STB_RHD_ROOT = STB_RHD.names, STB_RHD.parents, STB_RHD.roots

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
    return (roots[..., 0] == IH26M.roots["right"]) & (roots[..., 1] == IH26M.roots["left"])


def skeleton_txt(names: tuple[str, ...], parents: tuple[int, ...]) -> str:
    """The dataset's `skeleton.txt`: a `#` header, then `name id parent_id` per line."""
    lines = ["# joint_name joint_id joint_parent_id"]
    lines += [f"{name} {joint_id} {parent}" for joint_id, (name, parent) in enumerate(zip(names, parents))]
    return "\n".join(lines) + "\n"
