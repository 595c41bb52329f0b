"""InterNet's losses (the original's `common/nets/loss.py`), with an exact heatmap loss that renders no dense target.

The original heatmap loss is mean((p − t)² · valid) over B·42·64³ voxels, t a dense Gaussian target
(44 MB per sample in float32). The target is separable, t = 255 · g_z ⊗ g_y ⊗ g_x, so per joint

    Σ (p − t)² = Σ p² − 2 · 255 · Σ p · (g_z ⊗ g_y ⊗ g_x) + 255² · Σ g_z² · Σ g_y² · Σ g_x²,

where the middle term is three small contractions and the last is closed-form over the finite grid.
The gradient 2 · valid / N · (p − t) is written in one pass, the only full-size tensor of the loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn import functional as F

from interhand.model.targets import HEATMAP_PEAK, axis_gaussians, render_joint_heatmaps

__all__ = [
    "HEATMAP_LOSS_FUNCTIONS",
    "joint_heatmap_loss",
    "joint_heatmap_loss_dense",
    "rel_root_depth_loss",
    "hand_type_loss",
    "internet_losses",
]


class _SeparableGaussianSquaredError(torch.autograd.Function):
    """Σ_bj weight_bj · Σ_voxels (p − peak · g_z ⊗ g_y ⊗ g_x)², without the dense target."""

    @staticmethod
    def forward(ctx, heatmap, gauss_x, gauss_y, gauss_z, weight, peak: float):
        batch, joints, depth, height, width = heatmap.shape
        rows = batch * joints
        heatmap = heatmap.contiguous()
        flat = heatmap.view(rows, 1, depth * height * width)
        sum_sq = torch.bmm(flat, flat.transpose(1, 2)).view(rows)
        along_x = torch.bmm(heatmap.view(rows, depth * height, width), gauss_x.reshape(rows, width, 1))
        along_xy = torch.bmm(along_x.view(rows, depth, height), gauss_y.reshape(rows, height, 1))
        cross = (along_xy.view(rows, depth) * gauss_z.reshape(rows, depth)).sum(dim=1)
        target_sq = (peak * peak) * (gauss_x.square().sum(-1) * gauss_y.square().sum(-1)
                                     * gauss_z.square().sum(-1)).reshape(rows)
        per_joint = sum_sq - (2.0 * peak) * cross + target_sq
        ctx.save_for_backward(heatmap, gauss_x, gauss_y, gauss_z, weight)
        ctx.peak = peak
        return (per_joint * weight.reshape(rows)).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        heatmap, gauss_x, gauss_y, gauss_z, weight = ctx.saved_tensors
        plane_zy = gauss_z[..., :, None] * gauss_y[..., None, :]                      # (B, J, D, H)
        grad = torch.addcmul(heatmap, plane_zy[..., None], gauss_x[..., None, None, :], value=-ctx.peak)
        grad.mul_((2.0 * grad_loss * weight)[..., None, None, None])
        return grad, None, None, None, None, None


def _check_heatmap_args(heatmap: torch.Tensor, joints_voxel: torch.Tensor, joint_valid: torch.Tensor) -> None:
    if heatmap.dim() != 5:
        raise ValueError(f"heatmap must be (B, J, D, H, W), got shape {tuple(heatmap.shape)}")
    depth, height, width = heatmap.shape[2:]
    if not depth == height == width:
        raise ValueError(f"heatmap grid must be cubic, got {depth}×{height}×{width}")
    if tuple(joints_voxel.shape) != (*heatmap.shape[:2], 3):
        raise ValueError(f"joints_voxel must be {(*heatmap.shape[:2], 3)}, got {tuple(joints_voxel.shape)}")
    if tuple(joint_valid.shape) != tuple(heatmap.shape[:2]):
        raise ValueError(f"joint_valid must be {tuple(heatmap.shape[:2])}, got {tuple(joint_valid.shape)}")


def _as_loss_dtype(heatmap: torch.Tensor) -> torch.Tensor:
    # Under bf16 autocast the network's heatmap is bf16; the loss is taken in float32 (float64 kept for tests).
    return heatmap if heatmap.dtype in (torch.float32, torch.float64) else heatmap.float()


def joint_heatmap_loss(heatmap: torch.Tensor, joints_voxel: torch.Tensor, joint_valid: torch.Tensor,
                       sigma: float, peak: float = HEATMAP_PEAK) -> torch.Tensor:
    """The original heatmap loss, exactly, without rendering the target (lean form).

    Args:
        heatmap: (B, J, D, D, D) float predicted heatmap, axes (z, y, x).
        joints_voxel: (B, J, 3) float target (x, y, z) in the heatmap grid, voxels.
        joint_valid: (B, J) 0/1 float mask.
        sigma: target Gaussian std, voxels.
        peak: target peak value (255).

    Returns:
        Scalar: mean over B·J·D³ of (heatmap − target)² · joint_valid, in heatmap's dtype (float32 at least).
    """
    _check_heatmap_args(heatmap, joints_voxel, joint_valid)
    with torch.autocast(device_type=heatmap.device.type, enabled=False):
        heatmap = _as_loss_dtype(heatmap)
        joints_voxel = joints_voxel.to(heatmap.dtype).detach()
        gauss_x, gauss_y, gauss_z = axis_gaussians(joints_voxel, sigma, heatmap.shape[-1])
        weight = joint_valid.to(heatmap.dtype).detach() / heatmap.numel()
        return _SeparableGaussianSquaredError.apply(heatmap, gauss_x, gauss_y, gauss_z, weight, float(peak))


def joint_heatmap_loss_dense(heatmap: torch.Tensor, joints_voxel: torch.Tensor, joint_valid: torch.Tensor,
                             sigma: float, peak: float = HEATMAP_PEAK) -> torch.Tensor:
    """Reference form of `joint_heatmap_loss`: renders the dense target, as the original does.

    Same arguments and result as `joint_heatmap_loss`; needs two more full-size tensors (target and
    squared error) in the forward and more in the backward.
    """
    _check_heatmap_args(heatmap, joints_voxel, joint_valid)
    with torch.autocast(device_type=heatmap.device.type, enabled=False):
        heatmap = _as_loss_dtype(heatmap)
        target = render_joint_heatmaps(joints_voxel.to(heatmap.dtype).detach(), None, sigma,
                                       heatmap.shape[-1], peak)
        mask = joint_valid.to(heatmap.dtype)[:, :, None, None, None]
        return ((heatmap - target) ** 2 * mask).mean()


HEATMAP_LOSS_FUNCTIONS = {"lean": joint_heatmap_loss, "dense": joint_heatmap_loss_dense}


def rel_root_depth_loss(rel_root_depth_bins: torch.Tensor, target_bins: torch.Tensor,
                        root_valid: torch.Tensor) -> torch.Tensor:
    """L1 on the left-vs-right root depth, masked, mean over the batch.

    Args:
        rel_root_depth_bins: (B, 1) float prediction, bins.
        target_bins: (B, 1) float target, bins.
        root_valid: (B, 1) or (B,) 0/1 float.

    Returns:
        Scalar float.
    """
    return ((rel_root_depth_bins.float() - target_bins.float()).abs() * root_valid.float().reshape(-1, 1)).mean()


def hand_type_loss(hand_type: torch.Tensor, target: torch.Tensor, hand_type_valid: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on [p_right, p_left], mean of the two, masked, mean over the batch.

    Args:
        hand_type: (B, 2) float probabilities (after sigmoid), as the original.
        target: (B, 2) float 0/1 labels: right [1, 0], left [0, 1], interacting [1, 1].
        hand_type_valid: (B,) or (B, 1) 0/1 float.

    Returns:
        Scalar float.
    """
    with torch.autocast(device_type=hand_type.device.type, enabled=False):
        probabilities = hand_type.float()
        # binary_cross_entropy refuses a NaN probability (an error on the CPU, a device-side assert that ends the
        # process on a GPU); training reads its loss back only every --log-every steps, so after a non-finite
        # step the weights are NaN. BCE of the finite probabilities, plus 0 × their sum: the same value and
        # gradient for finite inputs, NaN (reported by the read-back, naming the step) otherwise.
        finite = torch.where(torch.isfinite(probabilities), probabilities, 0.5)
        per_sample = F.binary_cross_entropy(finite, target.float(), reduction="none").mean(dim=1)
        return (per_sample * hand_type_valid.float().reshape(-1)).mean() + 0.0 * probabilities.sum()


def internet_losses(output: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], sigma: float,
                    heatmap_loss: str = "lean") -> dict[str, torch.Tensor]:
    """The original's three losses, each already averaged; train sums them with weight 1.

    Args:
        output: `joint_heatmap` (B, 42, D, D, D), `rel_root_depth_bins` (B, 1), `hand_type` (B, 2).
        targets: `joints_voxel` (B, 42, 3) voxels, `joint_valid` (B, 42), `rel_root_depth_bins` (B, 1),
            `root_valid` (B, 1), `hand_type` (B, 2), `hand_type_valid` (B,).
        sigma: heatmap target std, voxels.
        heatmap_loss: "lean" or "dense" (same value and gradient; dense is the reference).

    Returns:
        {"joint_heatmap", "rel_root_depth", "hand_type"} → scalar tensors.
    """
    if heatmap_loss not in HEATMAP_LOSS_FUNCTIONS:
        raise ValueError(f"heatmap_loss={heatmap_loss!r} is not one of {', '.join(HEATMAP_LOSS_FUNCTIONS)}")
    return {
        "joint_heatmap": HEATMAP_LOSS_FUNCTIONS[heatmap_loss](output["joint_heatmap"], targets["joints_voxel"],
                                                     targets["joint_valid"], sigma),
        "rel_root_depth": rel_root_depth_loss(output["rel_root_depth_bins"], targets["rel_root_depth_bins"],
                                              targets["root_valid"]),
        "hand_type": hand_type_loss(output["hand_type"], targets["hand_type"], targets["hand_type_valid"]),
    }
