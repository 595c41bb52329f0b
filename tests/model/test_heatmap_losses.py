"""The lean heatmap loss equals the dense reference in value and gradient; the other two losses."""

import pytest
import torch
from torch.nn import functional as F

from interhand.model.losses import (
    hand_type_loss,
    internet_losses,
    joint_heatmap_loss,
    joint_heatmap_loss_dense,
    rel_root_depth_loss,
)
from interhand.model.targets import render_joint_heatmaps


def _case(batch=2, joints=6, size=64, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # Predictions near the target's scale, centres partly off the grid, a third of the joints invalid.
    heatmap = torch.randn(batch, joints, size, size, size, generator=generator, dtype=dtype) * 40 + 20
    joints_voxel = torch.rand(batch, joints, 3, generator=generator, dtype=dtype) * (size + 8) - 4
    joint_valid = (torch.rand(batch, joints, generator=generator) > 0.33).to(dtype)
    return heatmap.requires_grad_(), joints_voxel, joint_valid


def _original_dense_loss(heatmap, joints_voxel, joint_valid, sigma):
    size = heatmap.shape[-1]
    grid = torch.arange(size, dtype=heatmap.dtype)
    zz, yy, xx = torch.meshgrid(grid, grid, grid, indexing="ij")
    x, y, z = (joints_voxel[:, :, axis, None, None, None] for axis in range(3))
    target = torch.exp(-((xx - x) / sigma) ** 2 / 2 - ((yy - y) / sigma) ** 2 / 2 - ((zz - z) / sigma) ** 2 / 2) * 255
    return ((heatmap - target) ** 2 * joint_valid[:, :, None, None, None]).mean()


def _assert_lean_equals_dense(heatmap, joints_voxel, joint_valid, tolerance: float) -> None:
    """Loss values and gradients of the lean and dense forms agree to `tolerance` (relative)."""
    lean = joint_heatmap_loss(heatmap, joints_voxel, joint_valid, 2.5)
    (lean_grad,) = torch.autograd.grad(lean, heatmap)
    dense = joint_heatmap_loss_dense(heatmap, joints_voxel, joint_valid, 2.5)
    (dense_grad,) = torch.autograd.grad(dense, heatmap)
    torch.testing.assert_close(lean, dense, rtol=tolerance, atol=0)
    torch.testing.assert_close(lean_grad, dense_grad, rtol=tolerance, atol=tolerance * dense_grad.abs().max().item())


def test_lean_heatmap_loss_equals_the_dense_reference_in_value_and_gradient():
    _assert_lean_equals_dense(*_case(), tolerance=1e-6)


def test_dense_reference_equals_the_original_meshgrid_formulation():
    heatmap, joints_voxel, joint_valid = _case(batch=1, joints=3, size=32)
    torch.testing.assert_close(joint_heatmap_loss_dense(heatmap, joints_voxel, joint_valid, 2.5),
                               _original_dense_loss(heatmap, joints_voxel, joint_valid, 2.5), rtol=1e-12, atol=0)


def test_lean_heatmap_loss_is_exact_when_the_prediction_equals_the_target():
    joints_voxel = torch.tensor([[[10.2, 30.0, 50.5], [0.0, 63.0, 31.9]]], dtype=torch.float64)
    heatmap = render_joint_heatmaps(joints_voxel, None, 2.5, 64).requires_grad_()
    loss = joint_heatmap_loss(heatmap, joints_voxel, torch.ones(1, 2, dtype=torch.float64), 2.5)
    (grad,) = torch.autograd.grad(loss, heatmap)
    # Σ t² ≈ 1.1e7 per joint: cancellation leaves ~1e-9 of it in float64.
    assert abs(loss.item()) < 1e-9 * 1.1e7 / heatmap[0, 0].numel()
    assert grad.abs().max().item() < 1e-12


def test_lean_heatmap_loss_passes_gradcheck_on_a_small_grid():
    heatmap, joints_voxel, joint_valid = _case(batch=2, joints=3, size=6)
    assert torch.autograd.gradcheck(lambda h: joint_heatmap_loss(h, joints_voxel, joint_valid, 1.5), (heatmap,))


def test_lean_heatmap_loss_ignores_invalid_joints_whatever_they_predict():
    heatmap, joints_voxel, joint_valid = _case(batch=1, joints=4, size=16)
    joint_valid[0] = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    changed = heatmap.detach().clone()
    changed[0, 1] += 1000
    torch.testing.assert_close(joint_heatmap_loss(heatmap, joints_voxel, joint_valid, 2.5),
                               joint_heatmap_loss(changed, joints_voxel, joint_valid, 2.5))
    (grad,) = torch.autograd.grad(joint_heatmap_loss(heatmap, joints_voxel, joint_valid, 2.5), heatmap)
    assert grad[0, 1].abs().max() == 0 and grad[0, 3].abs().max() == 0


def test_lean_and_dense_heatmap_losses_agree_in_float32_at_the_full_joint_count():
    _assert_lean_equals_dense(*_case(batch=1, joints=42, size=64, dtype=torch.float32), tolerance=1e-5)


def test_lean_heatmap_loss_takes_a_bf16_heatmap_in_float32():
    heatmap, joints_voxel, joint_valid = _case(batch=1, joints=2, size=16, dtype=torch.float32)
    half = heatmap.detach().bfloat16().requires_grad_()
    loss = joint_heatmap_loss(half, joints_voxel, joint_valid, 2.5)
    loss.backward()
    assert loss.dtype == torch.float32 and half.grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss, joint_heatmap_loss_dense(half.detach().float(), joints_voxel, joint_valid, 2.5))


def test_heatmap_loss_names_the_argument_with_a_wrong_shape():
    heatmap, joints_voxel, joint_valid = _case(batch=1, joints=2, size=8)
    with pytest.raises(ValueError, match="joint_valid"):
        joint_heatmap_loss(heatmap, joints_voxel, joint_valid[:, :1], 2.5)
    with pytest.raises(ValueError, match="joints_voxel"):
        joint_heatmap_loss(heatmap, joints_voxel[:, :, :2], joint_valid, 2.5)


def test_rel_root_depth_loss_is_the_masked_mean_absolute_error_in_bins():
    loss = rel_root_depth_loss(torch.tensor([[10.0], [20.0]]), torch.tensor([[13.0], [0.0]]),
                               torch.tensor([[1.0], [0.0]]))
    assert loss.item() == pytest.approx(1.5)


def test_hand_type_loss_is_the_masked_mean_of_per_sample_binary_cross_entropy():
    prediction = torch.tensor([[0.9, 0.2], [0.5, 0.5]])
    target = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    expected = (-(torch.log(torch.tensor(0.9)) + torch.log(torch.tensor(0.8))) / 2 * 1.0 + 0.0) / 2
    loss = hand_type_loss(prediction, target, torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    full = hand_type_loss(prediction, target, torch.ones(2))
    assert full.item() == pytest.approx(F.binary_cross_entropy(prediction, target).item(), rel=1e-6)


def test_internet_losses_gives_the_three_original_keys_with_either_heatmap_loss():
    heatmap, joints_voxel, joint_valid = _case(batch=2, joints=42, size=8, dtype=torch.float32)
    output = {"joint_heatmap": heatmap, "rel_root_depth_bins": torch.full((2, 1), 30.0),
              "hand_type": torch.tensor([[0.7, 0.4], [0.6, 0.9]])}
    targets = {"joints_voxel": joints_voxel, "joint_valid": joint_valid,
               "rel_root_depth_bins": torch.full((2, 1), 32.0),
               "root_valid": torch.ones(2, 1), "hand_type": torch.tensor([[1.0, 0.0], [1.0, 1.0]]),
               "hand_type_valid": torch.ones(2)}
    lean = internet_losses(output, targets, 2.5, "lean")
    dense = internet_losses(output, targets, 2.5, "dense")
    assert set(lean) == {"joint_heatmap", "rel_root_depth", "hand_type"}
    for key in lean:
        torch.testing.assert_close(lean[key], dense[key], rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="lean, dense"):
        internet_losses(output, targets, 2.5, "sparse")
