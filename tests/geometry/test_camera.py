"""Projection and back-projection: batched, one camera per sample, and each the other's inverse."""

import numpy as np

from interhand.geometry.camera import camera_to_pixel, pixel_to_camera


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
