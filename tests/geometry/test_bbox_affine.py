"""process_bbox and the patch affine against hand-computed cases (the original's `common/utils/preprocessing.py`)."""

import numpy as np

from interhand.geometry.affine import apply_affine, window_to_patch_affines
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


def test_apply_affine_maps_points_by_the_linear_part_plus_the_offset():
    matrix = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    np.testing.assert_allclose(apply_affine([[1.0, 1.0], [0.0, 2.0]], matrix), [[3.0, 2.0], [1.0, 5.0]])


def test_window_to_patch_affines_map_a_window_onto_the_patch_and_back():
    # a 100×50 window centred at (150, 75), no rotation: its corners go to the patch's corners
    img_to_patch, flipped_img_to_patch, patch_to_flipped_img = window_to_patch_affines(
        np.array([[150.0, 75.0]]), np.array([[100.0, 50.0]]), np.array([0.0]), np.array([False]), 640.0, 256)
    np.testing.assert_allclose(apply_affine([[100.0, 50.0], [200.0, 100.0]], flipped_img_to_patch[0]),
                               [[0.0, 0.0], [256.0, 256.0]])
    np.testing.assert_allclose(img_to_patch, flipped_img_to_patch)
    np.testing.assert_allclose(apply_affine([[128.0, 128.0]], patch_to_flipped_img[0]), [[150.0, 75.0]])


def test_window_to_patch_affines_fold_the_flip_and_rotate_about_the_centre():
    centre, window = np.array([[150.0, 75.0]]), np.array([[100.0, 100.0]])
    img_to_patch, flipped_img_to_patch, patch_to_flipped_img = window_to_patch_affines(
        centre, window, np.array([90.0]), np.array([True]), 640.0, 256)
    mirrored_centre = [640.0 - 1.0 - 150.0, 75.0]
    np.testing.assert_allclose(apply_affine([mirrored_centre], flipped_img_to_patch[0]), [[128.0, 128.0]])
    np.testing.assert_allclose(apply_affine([[150.0, 75.0]], img_to_patch[0]), [[128.0, 128.0]])
    # a point 50 px right of the centre in the mirrored image lies on the patch's vertical axis after 90°
    right = apply_affine([[mirrored_centre[0] + 50.0, 75.0]], flipped_img_to_patch[0])[0]
    np.testing.assert_allclose(abs(right[1] - 128.0), 128.0, atol=1e-9)
    np.testing.assert_allclose(right[0], 128.0, atol=1e-9)
    full = np.vstack([flipped_img_to_patch[0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(patch_to_flipped_img[0], np.linalg.inv(full)[:2], atol=1e-12)


def test_apply_affine_takes_one_matrix_per_leading_index():
    matrices = np.array([[[2.0, 0.0, 1.0], [0.0, 3.0, -1.0]], [[0.0, -1.0, 0.0], [1.0, 0.0, 5.0]]])
    points = np.array([[[1.0, 1.0]], [[2.0, 3.0]]])
    np.testing.assert_allclose(apply_affine(points, matrices), [[[3.0, 2.0]], [[-3.0, 7.0]]])
