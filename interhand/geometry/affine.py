"""2×3 affine maps between original-image pixels and the network's input patch (the original's
`gen_trans_from_patch_cv`, `common/utils/preprocessing.py`).

`window_to_patch_affines` builds the patch's own maps from a plain source window (centre, size, rotation, flip) in
closed form, vectorised; how augmentation chooses that window is `interhand.loaders.augment`'s business.
`apply_affine` maps points through them (batched).

Names say the two frames a matrix maps between. `img` is the original image as stored; `flipped_img` is
that image mirrored (u → W − 1 − u) when the sample's augmentation flips it, and the image itself when it
does not (evaluation never flips, so there the two are one frame). `img_to_patch` and
`flipped_img_to_patch` differ by exactly the flip: the first has it folded in (the warp reads the stored
image), the second is the original's `trans` (the joints are flipped before they are mapped).
`patch_to_flipped_img` is the original's `inv_trans`, the inverse of `flipped_img_to_patch`.

Coordinates follow the original (OpenCV) convention: pixel i has its centre at coordinate i. A matrix
maps source points to destination points: [u', v'] = M · [u, v, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_to_patch_affines", "apply_affine"]


def window_to_patch_affines(centre_xy: np.ndarray, window_wh: np.ndarray, rot_deg: np.ndarray, flip: np.ndarray,
                            image_width: np.ndarray, input_size: int = 256
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maps between a batch of source windows and the S×S patch (the original's 3-point construction).

    The window, centred at `centre_xy` in the unflipped image, of size `window_wh`, rotated by `rot_deg`
    about its centre, maps onto the patch: flipped_img_to_patch = diag(S/w, S/h)·Rᵀ about the centres. When
    `flip` is set the image is mirrored first (u → W − 1 − u), the window with it.

    Args:
        centre_xy: (B, 2) window centres, unflipped original-image px.
        window_wh: (B, 2) window width and height, px.
        rot_deg: (B,) rotation, degrees, the original's sign convention.
        flip: (B,) bool, horizontal mirror.
        image_width: (B,) or scalar, px.
        input_size: S, the patch side, px.

    Returns:
        img_to_patch (B, 2, 3): image px → patch px, the flip folded in.
        flipped_img_to_patch (B, 2, 3): the original's `trans`, flipped-image px → patch px.
        patch_to_flipped_img (B, 2, 3): the original's `inv_trans`, patch px → flipped-image px.
    """
    centre = np.asarray(centre_xy, dtype=np.float64).reshape(-1, 2)
    window = np.asarray(window_wh, dtype=np.float64).reshape(-1, 2)
    flip = np.asarray(flip, dtype=bool).reshape(-1)
    width_px = np.broadcast_to(np.asarray(image_width, dtype=np.float64), flip.shape)
    centre_x = np.where(flip, width_px - centre[:, 0] - 1.0, centre[:, 0])
    window_w, window_h = window[:, 0], window[:, 1]
    radians = np.deg2rad(np.asarray(rot_deg, dtype=np.float64).reshape(-1))
    cos, sin = np.cos(radians), np.sin(radians)
    half = input_size / 2.0
    # linear part of flipped_img_to_patch: rows of diag(S/w', S/h') · Rᵀ, R = [[cos, −sin], [sin, cos]]
    linear = np.stack([np.stack([cos * input_size / window_w, sin * input_size / window_w], -1),
                       np.stack([-sin * input_size / window_h, cos * input_size / window_h], -1)], 1)
    centre = np.stack([centre_x, centre[:, 1]], -1)
    flipped_img_to_patch = np.concatenate([linear, (half - np.einsum("bij,bj->bi", linear, centre))[..., None]], -1)
    inverse_linear = np.stack([np.stack([cos * window_w, -sin * window_h], -1),
                               np.stack([sin * window_w, cos * window_h], -1)], 1) / input_size
    patch_to_flipped_img = np.concatenate([inverse_linear, (centre - half * inverse_linear.sum(-1))[..., None]], -1)
    img_to_patch = flipped_img_to_patch.copy()
    img_to_patch[:, :, 2] += np.where(flip[:, None], linear[:, :, 0] * (width_px[:, None] - 1.0), 0.0)
    img_to_patch[:, :, 0] = np.where(flip[:, None], -linear[:, :, 0], linear[:, :, 0])
    return img_to_patch, flipped_img_to_patch, patch_to_flipped_img


def apply_affine(points_xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map points through 2×3 affine matrices, batched: one matrix per leading index.

    Args:
        points_xy: (..., N, 2) points, px in the matrix's source frame.
        matrix: (..., 2, 3) affine matrices (the leading shape of the points').

    Returns:
        (..., N, 2) float64 points in the destination frame, px.
    """
    points = np.asarray(points_xy, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.einsum("...ij,...nj->...ni", matrix[..., :2], points) + matrix[..., None, :, 2]
