"""Projection and back-projection: batched, one camera per sample, and each the other's inverse."""

import numpy as np

from interhand.geometry.camera import back_project, camera_to_pixel, pixel_to_camera


def test_pixel_to_camera_by_hand():
    # u = 600 px, principal point 500, focal 1000, Z = 2000 mm → X = (600 − 500) / 1000 · 2000 = 200 mm
    np.testing.assert_allclose(pixel_to_camera([[600.0, 300.0, 2000.0]], [1000.0, 500.0], [500.0, 400.0]),
                               [[200.0, -400.0, 2000.0]])


def test_pixel_to_camera_takes_one_camera_per_sample_and_inverts_the_projection():
    rng = np.random.default_rng(0)
    joints_cam = rng.uniform([-300, -300, 500], [300, 300, 1500], (4, 42, 3))
    focal, princpt = rng.uniform(900, 1500, (4, 2)), rng.uniform(200, 400, (4, 2))
    pixels = np.stack([camera_to_pixel(joints_cam[i], focal[i], princpt[i]) for i in range(4)])
    joints_img = np.concatenate([pixels, joints_cam[..., 2:3]], axis=-1)
    np.testing.assert_allclose(pixel_to_camera(joints_img, focal, princpt), joints_cam, rtol=1e-9)
    np.testing.assert_array_equal(pixel_to_camera(joints_img, focal, princpt)[2],
                                  pixel_to_camera(joints_img[2], focal[2], princpt[2]))


def test_projection_and_back_projection_give_the_textbook_formulas_bits_in_every_dtype_and_layout():
    # camera_to_pixel and back_project compute u and v apart for speed (#31): the same operations in the same order
    # as the plain broadcast formulas, so the same bits (float32 training inputs and float64 scoring alike)
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        joints = rng.uniform([-300, -300, 500], [300, 300, 1500], (5, 42, 3)).astype(dtype)
        focal, princpt = rng.uniform(900, 1500, (5, 2)).astype(dtype), rng.uniform(200, 400, (5, 2)).astype(dtype)
        for f, c, points in ((focal, princpt, joints), (focal[0], princpt[0], joints[0]),
                             (focal[0].astype(np.float64), princpt[0], joints[0])):
            uv = camera_to_pixel(points, f, c)
            expected = points[..., :2] / (points[..., 2:3] + 1e-8) * np.asarray(f)[..., None, :] + \
                np.asarray(c)[..., None, :]
            assert uv.dtype == expected.dtype
            np.testing.assert_array_equal(uv, expected)
            image = np.concatenate([uv, points[..., 2:3]], axis=-1).astype(points.dtype)
            cam = pixel_to_camera(image, f, c)
            xy = (image[..., :2] - np.asarray(c)[..., None, :]) / np.asarray(f)[..., None, :] * image[..., 2:3]
            expected = np.concatenate([xy, image[..., 2:3]], axis=-1)
            assert cam.dtype == expected.dtype
            np.testing.assert_array_equal(cam, expected)
            np.testing.assert_array_equal(back_project(image[..., :2], image[..., 2], f, c), expected)
