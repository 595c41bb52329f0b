"""render_joint_heatmaps against the original's formula (`Model.render_gaussian_heatmap`, the original's
`main/model.py`)."""

import torch

from interhand.model.targets import axis_gaussians, render_joint_heatmaps


def _original_formula(joints_voxel, sigma, size):
    grid = torch.arange(size, dtype=torch.float64)
    zz, yy, xx = torch.meshgrid(grid, grid, grid, indexing="ij")
    x, y, z = (joints_voxel[:, :, axis, None, None, None] for axis in range(3))
    return torch.exp(-((xx - x) ** 2 + (yy - y) ** 2 + (zz - z) ** 2) / (2 * sigma**2)) * 255


def test_rendered_heatmaps_equal_the_original_gaussian_with_peak_255():
    joints = torch.tensor([[[10.3, 40.0, 31.7], [63.9, 0.2, -3.0]]], dtype=torch.float64)
    heatmaps = render_joint_heatmaps(joints, None, 2.5, 64)
    assert heatmaps.shape == (1, 2, 64, 64, 64)
    torch.testing.assert_close(heatmaps, _original_formula(joints, 2.5, 64), rtol=1e-12, atol=1e-10)


def test_rendered_heatmap_axes_are_z_y_x():
    joints = torch.tensor([[[5.0, 20.0, 40.0]]])
    heatmaps = render_joint_heatmaps(joints, None, 2.5, 64)
    z, y, x = torch.unravel_index(heatmaps[0, 0].argmax(), (64, 64, 64))
    assert (int(x), int(y), int(z)) == (5, 20, 40)
    assert heatmaps.max().item() == 255.0


def test_invalid_joints_get_an_all_zero_heatmap():
    joints = torch.full((1, 3, 3), 16.0)
    heatmaps = render_joint_heatmaps(joints, torch.tensor([[1.0, 0.0, 1.0]]), 2.5, 32)
    assert heatmaps[0, 1].abs().max() == 0
    assert heatmaps[0, 0].max() == 255.0 and heatmaps[0, 2].max() == 255.0


def test_axis_gaussians_are_unit_peak_one_dimensional_factors_per_axis():
    gauss_x, gauss_y, gauss_z = axis_gaussians(torch.tensor([[[3.0, 7.0, 1.5]]]), 2.0, 16)
    assert gauss_x.shape == gauss_y.shape == gauss_z.shape == (1, 1, 16)
    assert gauss_x[0, 0, 3] == 1.0 and gauss_y[0, 0, 7] == 1.0
    torch.testing.assert_close(gauss_z[0, 0, 1], torch.exp(torch.tensor(-0.25 / 8)))
