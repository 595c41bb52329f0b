"""process_bbox and the patch affine against hand-computed cases (interhand_format.md §4)."""

import numpy as np
import pytest

from interhand.geometry.affine import affine_from_points, affine_img_to_patch, apply_affine, invert_affine
from interhand.geometry.bbox import process_bbox


def test_process_bbox_grows_the_short_side_to_square_then_enlarges_by_a_quarter():
    np.testing.assert_allclose(process_bbox([10, 20, 100, 50]), [-2.5, -17.5, 125.0, 125.0])
    np.testing.assert_allclose(process_bbox([0, 0, 40, 80]), [-30.0, -10.0, 100.0, 100.0])


def test_process_bbox_keeps_the_centre_of_a_square_box():
    np.testing.assert_allclose(process_bbox([69, 137, 80, 80]), [59.0, 127.0, 100.0, 100.0])


def test_process_bbox_follows_a_non_square_aspect_ratio():
    # width / height = 2: a 40×40 box becomes 80×40, then ×1.25 = 100×50, same centre (20, 20).
    np.testing.assert_allclose(process_bbox([0, 0, 40, 40], aspect_ratio=2.0), [-30.0, -5.0, 100.0, 50.0])


def test_process_bbox_leaves_its_input_untouched():
    box = np.array([10.0, 20.0, 100.0, 50.0])
    process_bbox(box)
    np.testing.assert_array_equal(box, [10.0, 20.0, 100.0, 50.0])


def test_affine_img_to_patch_scales_the_box_onto_the_patch_without_rotation():
    matrix = affine_img_to_patch((100.0, 50.0), (200.0, 200.0), 1.0, 0.0, 256)
    np.testing.assert_allclose(matrix, [[1.28, 0.0, 0.0], [0.0, 1.28, 64.0]], atol=1e-12)
    np.testing.assert_allclose(apply_affine([[100.0, 50.0], [0.0, -50.0]], matrix), [[128, 128], [0, 0]], atol=1e-9)


def test_affine_img_to_patch_rotates_the_source_window_by_the_given_degrees():
    # rot 90°: the box's down vector (0, h/2) turns into (−h/2, 0), its right vector (w/2, 0) into (0, w/2).
    matrix = affine_img_to_patch((0.0, 0.0), (200.0, 200.0), 1.0, 90.0, 256)
    np.testing.assert_allclose(matrix, [[0.0, 1.28, 128.0], [-1.28, 0.0, 128.0]], atol=1e-9)
    np.testing.assert_allclose(apply_affine([[-100.0, 0.0], [0.0, 100.0]], matrix), [[128, 256], [256, 128]],
                               atol=1e-9)


def test_affine_img_to_patch_scale_enlarges_the_source_window():
    matrix = affine_img_to_patch((0.0, 0.0), (128.0, 128.0), 2.0, 0.0, 256)
    np.testing.assert_allclose(matrix, [[1.0, 0.0, 128.0], [0.0, 1.0, 128.0]], atol=1e-12)


def test_affine_img_to_patch_accepts_a_rectangular_patch_as_width_height():
    matrix = affine_img_to_patch((50.0, 50.0), (100.0, 100.0), 1.0, 0.0, (128, 256))
    np.testing.assert_allclose(matrix, [[1.28, 0.0, 0.0], [0.0, 2.56, 0.0]], atol=1e-12)


def test_invert_affine_undoes_the_forward_map():
    matrix = affine_img_to_patch((321.5, 97.25), (150.0, 150.0), 1.1, -37.0, 256)
    points = np.array([[0.0, 0.0], [300.0, 120.0], [512.0, 334.0]])
    np.testing.assert_allclose(apply_affine(apply_affine(points, matrix), invert_affine(matrix)), points, atol=1e-9)


def test_apply_affine_maps_points_by_the_linear_part_plus_the_offset():
    matrix = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    np.testing.assert_allclose(apply_affine([[1.0, 1.0], [0.0, 2.0]], matrix), [[3.0, 2.0], [1.0, 5.0]])


def test_affine_from_points_refuses_collinear_points():
    with pytest.raises(np.linalg.LinAlgError):
        affine_from_points([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 0], [0, 1]])
