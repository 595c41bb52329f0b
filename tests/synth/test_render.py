"""The renderer tells a right hand from a left one the way real pictures do: by which side of it is the palm."""

import numpy as np
import pytest

from interhand.synth.kinematics import POSE_LIBRARY, HandShape, hand_joints_local, pose_hand, rotation_from_axis_angle
from interhand.synth.render import CameraView, HandAppearance, palm_normal, render_hands

SHAPE = HandShape(scale=1.0, segment_factors=np.ones((5, 3)))
# A camera at the world origin looking along +z; the hand 500 mm in front of it.
VIEW = CameraView(np.eye(3), np.zeros(3), np.array([500.0, 500.0]), np.array([128.0, 128.0]), 256, 256)
APPEARANCE = HandAppearance(skin_rgb=np.array([176.0, 120.0, 88.0]), sleeve_rgb=np.array([40.0, 90.0, 200.0]))


def _hand(side: str, pose: str, rotation: np.ndarray) -> np.ndarray:
    return pose_hand(hand_joints_local(POSE_LIBRARY[pose], SHAPE), side, rotation, np.array([0.0, 60.0, 500.0]))


@pytest.mark.parametrize("side", ["right", "left"])
def test_fingers_flex_towards_the_palm_normal(side):
    rotation = rotation_from_axis_angle(np.array([0.3, -1.1, 0.7]))
    fist = _hand(side, "fist", rotation)
    normal = palm_normal(fist, side)
    for finger in range(1, 5):  # index..little: the first bone, bent ~90°, points out of the palm side
        middle_joint, base = fist[4 * finger + 2], fist[4 * finger + 3]
        assert (middle_joint - base) @ normal > 20.0, (side, finger)


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_palm_side_is_drawn_lighter_than_the_back(side):
    background = np.zeros((256, 256, 3), dtype=np.uint8)
    light = np.array([0.0, 0.0, -1.0])  # from the camera: both faces lit alike
    # Local frame: fingers along +y, the palm facing -z, i.e. towards this camera. A half turn about z puts
    # the fingers up in the picture with the palm still to the camera; one about x shows the back.
    means = {}
    for face, rotation in (("palm", np.diag([-1.0, -1.0, 1.0])), ("back", np.diag([1.0, -1.0, -1.0]))):
        hand = _hand(side, "open", rotation)
        assert (palm_normal(hand, side)[2] < 0) == (face == "palm")  # pointing at the camera: −z
        image, mask = render_hands(background, [hand], [side], [APPEARANCE], VIEW, light)
        means[face] = image[mask].astype(float).mean(axis=0)
    assert np.all(means["palm"] > means["back"] + 15.0), means
