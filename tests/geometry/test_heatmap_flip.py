"""Heatmap-space encoding, its inverse, and the joint flip."""

import numpy as np

from interhand.geometry.flip import flip_joints
from interhand.geometry.heatmap import (
    depth_bins_to_rel_mm,
    heatmap_to_patch_xy,
    joints_to_heatmap_space,
    rel_root_depth_to_bins,
    root_bins_to_rel_mm,
    voxel_to_image,
)
from interhand.skeleton import block_root_index


def test_depth_encoding_round_trips_and_marks_joints_beyond_200_mm_invalid():
    joints = np.zeros((42, 3))
    joints[:, 2] = 1000.0
    joints[0, 2] = 1000.0 + 150.0
    joints[1, 2] = 1000.0 + 200.0  # bin 64: outside [0, 64)
    joints[22, 2] = 1000.0 - 200.0  # bin 0: inside
    voxel, valid = joints_to_heatmap_space(joints, np.ones(42), np.array([20, 41]))
    assert valid[1] == 0 and valid[0] == 1 and valid[22] == 1
    np.testing.assert_allclose(depth_bins_to_rel_mm(voxel[[0, 22], 2]), [150.0, -200.0], atol=1e-3)
    np.testing.assert_allclose(voxel[20, 2], 32.0)


def test_xy_encoding_is_a_quarter_of_patch_pixels_and_inverts():
    joints = np.c_[np.linspace(0, 255, 42), np.linspace(10, 200, 42), np.full(42, 900.0)]
    voxel, _ = joints_to_heatmap_space(joints, np.ones(42), np.array([20, 41]))
    np.testing.assert_allclose(voxel[:, :2], joints[:, :2] / 4, atol=1e-5)
    np.testing.assert_allclose(heatmap_to_patch_xy(voxel[:, :2]), joints[:, :2], atol=1e-4)


def test_root_depth_bins_invert_and_validity_follows_the_range():
    bins, valid = rel_root_depth_to_bins(np.array([0.0, 199.0, 250.0]), np.ones(3))
    np.testing.assert_allclose(bins[:2], [32.0, 63.84], atol=1e-4)
    np.testing.assert_array_equal(valid, [1, 1, 0])
    np.testing.assert_allclose(root_bins_to_rel_mm(bins[:2]), [0.0, 199.0], atol=1e-3)


def test_each_joint_is_made_relative_to_its_own_wrist_in_both_orders():
    ih = block_root_index(np.array([20, 41]))
    stb = block_root_index(np.array([21, 0]))
    assert (ih[:21] == 20).all() and (ih[21:] == 41).all()
    assert (stb[:21] == 0).all() and (stb[21:] == 21).all()


def test_flip_mirrors_u_about_the_pixel_centre_and_swaps_blocks():
    joints = np.c_[np.arange(42.0), np.zeros(42), np.arange(42.0) + 500]
    flipped, valid, hand = flip_joints(joints, np.r_[np.ones(21), np.zeros(21)], np.array([1.0, 0.0]), 100, True)
    assert flipped[0, 0] == 100 - 21 - 1 and flipped[0, 2] == 521
    np.testing.assert_array_equal(valid, np.r_[np.zeros(21), np.ones(21)])
    np.testing.assert_array_equal(hand, [0.0, 1.0])
    unchanged, _, _ = flip_joints(joints, np.ones(42), np.array([1.0, 0.0]), 100, False)
    np.testing.assert_array_equal(unchanged, joints)


def test_voxel_to_image_goes_through_patch_px_and_takes_any_leading_shape():
    voxel = np.array([[[16.0, 8.0, 40.0]], [[0.0, 64.0, 32.0]]])  # patch px (64, 32), +50 mm; (0, 256), 0 mm
    patch_to_img = np.array([[[0.5, 0.0, 10.0], [0.0, 0.5, 20.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    np.testing.assert_allclose(voxel_to_image(voxel, patch_to_img), [[[42.0, 36.0, 50.0]], [[0.0, 256.0, 0.0]]])
    np.testing.assert_array_equal(voxel_to_image(voxel[1], patch_to_img[1]), voxel_to_image(voxel, patch_to_img)[1])
