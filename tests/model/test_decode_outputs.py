"""Voxels → patch px → image px, depth bins → mm, hand-computed."""

import numpy as np
import pytest

from interhand.config import ModelConfig
from interhand.geometry.heatmap import depth_bins_to_rel_mm, heatmap_geometry, heatmap_to_patch_xy
from interhand.model.decode import decode_joints_img


def test_voxels_scale_to_patch_pixels_by_four():
    np.testing.assert_allclose(heatmap_to_patch_xy(np.array([[10.0, 63.0]])), [[40.0, 252.0]])


@pytest.mark.parametrize("bins, millimetres", [(0.0, -200.0), (32.0, 0.0), (48.0, 100.0), (64.0, 200.0)])
def test_depth_bins_map_linearly_onto_the_400_mm_box(bins, millimetres):
    assert depth_bins_to_rel_mm(bins, heatmap_geometry(ModelConfig())) == pytest.approx(millimetres)


def test_decoded_joints_use_the_inverse_affine_and_shift_the_left_hand_by_the_root_depth():
    joints_voxel = np.zeros((42, 3))
    joints_voxel[:21] = [16.0, 32.0, 32.0]   # patch px (64, 128), z 0 mm
    joints_voxel[21:] = [32.0, 16.0, 40.0]   # patch px (128, 64), z +50 mm
    patch_to_img = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, 20.0]])
    joints = decode_joints_img(joints_voxel, 48.0, patch_to_img, ModelConfig())  # root +100 mm
    np.testing.assert_allclose(joints[0], [42.0, 84.0, 0.0])
    np.testing.assert_allclose(joints[41], [74.0, 52.0, 150.0])
