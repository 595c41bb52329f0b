"""Horizontal flip of joint annotations (the original's `augmentation`, `common/utils/preprocessing.py`).

A mirrored right hand is a left hand: the x coordinate is mirrored about the image (u' = W − u − 1,
the original's pixel-centre convention), and the two 21-joint blocks, their validity and the two
hand-type entries swap. Depth is unchanged. Works for both joint orders (IH26M right-first, STB/RHD
left-first): either way the blocks swap.
"""

from __future__ import annotations

import numpy as np

from interhand.skeleton import FLIP_PERMUTATION

__all__ = ["flip_joints"]


def flip_joints(joints_img: np.ndarray, joint_valid: np.ndarray, hand_type: np.ndarray,
                image_width: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip the samples whose `flip` is set; others pass through. Inputs are not modified.

    Args:
        joints_img: (..., 42, 3) u, v original-image px; Z camera mm.
        joint_valid: (..., 42) 0/1.
        hand_type: (..., 2) [right, left] 0/1.
        image_width: (...,) original image width, px.
        flip: (...,) bool.

    Returns:
        The three arrays, flipped where asked.
    """
    flip = np.asarray(flip, dtype=bool)
    joints = np.array(joints_img, dtype=np.float64, copy=True)
    mirrored = joints[..., FLIP_PERMUTATION, :]
    mirrored[..., 0] = np.asarray(image_width, dtype=np.float64)[..., None] - mirrored[..., 0] - 1.0
    joints = np.where(flip[..., None, None], mirrored, joints)
    valid = np.where(flip[..., None], np.asarray(joint_valid)[..., FLIP_PERMUTATION], joint_valid)
    hand = np.where(flip[..., None], np.asarray(hand_type)[..., ::-1], hand_type)
    return joints, valid, hand
