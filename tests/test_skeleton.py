"""Joint sets and skeleton.txt."""

import numpy as np
import pytest

from interhand.skeleton import (
    FLIP_PERMUTATION,
    IH26M_JOINT_NAMES,
    IH26M_PARENTS,
    IH26M_ROOT,
    IH26M_WRIST_IN_HAND,
    JOINTS_PER_HAND,
    LEFT,
    RIGHT,
    STB_RHD_JOINT_NAMES,
    STB_RHD_PARENTS,
    STB_RHD_ROOT,
    block_root_index,
    block_wrists,
    in_ih26m_order,
    skeleton_txt,
)

from helpers import parse_skeleton_txt


def test_ih26m_order_is_fingertip_first_with_the_wrist_last_per_hand():
    assert IH26M_JOINT_NAMES[:4] == ("r_thumb4", "r_thumb3", "r_thumb2", "r_thumb1")
    assert IH26M_JOINT_NAMES[IH26M_ROOT["right"]] == "r_wrist" and IH26M_JOINT_NAMES[IH26M_ROOT["left"]] == "l_wrist"
    assert all(name.startswith("r_") for name in IH26M_JOINT_NAMES[RIGHT])
    assert all(name.startswith("l_") for name in IH26M_JOINT_NAMES[LEFT])


def test_every_chain_walks_from_fingertip_to_its_own_wrist():
    for names, parents, roots in ((IH26M_JOINT_NAMES, IH26M_PARENTS, IH26M_ROOT),
                                  (STB_RHD_JOINT_NAMES, STB_RHD_PARENTS, STB_RHD_ROOT)):
        for joint, name in enumerate(names):
            steps, current = 0, joint
            while parents[current] != -1:
                current, steps = parents[current], steps + 1
            assert current == roots["right" if name.startswith("r_") else "left"]
            assert steps == (int(name[-1]) if name[-1].isdigit() else 0)


def test_flip_swaps_left_and_right_joint_blocks():
    flipped = np.array(IH26M_JOINT_NAMES)[FLIP_PERMUTATION]
    assert [n[2:] for n in flipped] == [n[2:] for n in IH26M_JOINT_NAMES]
    assert flipped[0] == "l_thumb4" and flipped[21] == "r_thumb4"


def test_skeleton_txt_round_trips_and_rejects_a_malformed_line():
    text = skeleton_txt(IH26M_JOINT_NAMES, IH26M_PARENTS)
    assert parse_skeleton_txt(text) == (IH26M_JOINT_NAMES, IH26M_PARENTS)
    with pytest.raises(ValueError, match="line 3"):
        parse_skeleton_txt(text.replace("r_thumb3 1 2", "r_thumb3 1"))


def test_the_layout_constants_are_the_ih26m_wrists_20_and_41():
    assert (IH26M_ROOT["right"], IH26M_ROOT["left"], IH26M_WRIST_IN_HAND) == (20, 41, 20)
    roots = np.array([[20, 41], [0, 21], [21, 0], [41, 20]])  # IH26M; STB/RHD (left first); two wrong orders
    np.testing.assert_array_equal(in_ih26m_order(roots), [True, False, False, False])
    assert in_ih26m_order(np.array([20.0, 41.0])) and not in_ih26m_order(np.array([21, 0]))


@pytest.mark.parametrize("roots", [(20, 41), (41, 20), (0, 21), (21, 0)])  # IH26M and STB/RHD orders, either hand
def test_each_blocks_wrist_is_the_own_wrist_of_its_joints(roots):
    index = np.array([roots, roots])
    assert block_wrists(index).tolist() == block_root_index(index)[:, [0, JOINTS_PER_HAND]].tolist()
