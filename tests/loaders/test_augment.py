"""augment_sample against a line-by-line re-statement of the original's augmentation and targets."""

from __future__ import annotations

import numpy as np
import pytest

from interhand.loaders.augment import (
    IDENTITY,
    PARAM_COLOUR,
    PARAM_FLIP,
    PARAM_ROT_DEG,
    PARAM_SCALE,
    PARAM_SHIFT_X,
    PARAM_SHIFT_Y,
    AugmentParams,
    augment_sample,
    augment_targets,
    counter_params,
    draw_augment_params,
    draw_augment_params_array,
    params_flip,
    params_from_array,
    params_to_array,
    patch_affine,
    warp_patch,
)

# The patch is OpenCV's warpAffine, as in the original; against a float re-statement of its bilinear
# interpolation with a black border it differs by the rounding to uint8 only (measured: mean 0.25, max 0.5).
MEAN_ABS_PIXEL_TOLERANCE = 0.3
MAX_ABS_PIXEL_TOLERANCE = 0.51


def _original_trans(cx, cy, w, h, size, scale, rot, inv=False):
    """gen_trans_from_patch_cv: the 3-point affine, solved directly."""
    rad = np.pi * rot / 180
    def rotate(v):
        return np.array([v[0] * np.cos(rad) - v[1] * np.sin(rad), v[0] * np.sin(rad) + v[1] * np.cos(rad)])
    src = np.array([[cx, cy], [cx, cy] + rotate([0, h * scale * 0.5]), [cx, cy] + rotate([w * scale * 0.5, 0])])
    dst = np.array([[size / 2, size / 2], [size / 2, size], [size, size / 2]])
    if inv:
        src, dst = dst, src
    return np.linalg.solve(np.c_[src, np.ones(3)], dst).T


def _original_targets(joints_img, valid, hand_type, bbox, width, p: AugmentParams, roots, interhand=True):
    """The original's augmentation() joint path + __getitem__ + transform_input_to_output_space."""
    joint_coord, valid, hand_type, bbox = joints_img.copy(), valid.copy(), hand_type.copy(), np.array(bbox, float)
    bbox[0] += bbox[2] * p.shift_x
    bbox[1] += bbox[3] * p.shift_y
    cx, cy = bbox[0] + 0.5 * bbox[2], bbox[1] + 0.5 * bbox[3]
    if p.flip:
        cx = width - cx - 1
    trans = _original_trans(cx, cy, bbox[2], bbox[3], 256, p.scale, p.rot_deg)
    first = np.arange(21) if roots[0] < 21 else np.arange(21, 42)  # block of the right hand
    second = np.arange(21, 42) if roots[0] < 21 else np.arange(21)
    if p.flip:
        joint_coord[:, 0] = width - joint_coord[:, 0] - 1
        joint_coord[first], joint_coord[second] = joint_coord[second].copy(), joint_coord[first].copy()
        valid[first], valid[second] = valid[second].copy(), valid[first].copy()
        hand_type = hand_type[::-1].copy()
    for i in range(42):
        joint_coord[i, :2] = trans @ np.array([joint_coord[i, 0], joint_coord[i, 1], 1.0])
        valid[i] *= (0 <= joint_coord[i, 0] < 256) and (0 <= joint_coord[i, 1] < 256)
    if interhand:
        rel_root = joint_coord[roots[1], 2] - joint_coord[roots[0], 2]
        root_valid = valid[roots[0]] * valid[roots[1]] if hand_type[0] * hand_type[1] == 1 else 0.0
    else:
        rel_root, root_valid = 0.0, 0.0
    joint_coord[:, :2] *= 64 / 256
    for block, root in ((first, roots[0]), (second, roots[1])):
        joint_coord[block, 2] -= joint_coord[root, 2]
    joint_coord[:, 2] = (joint_coord[:, 2] / 200 + 1) / 2 * 64
    valid = valid * ((joint_coord[:, 2] >= 0) & (joint_coord[:, 2] < 64))
    rel_root = (rel_root / 200 + 1) / 2 * 64 if interhand else 0.0
    root_valid = root_valid * (0 <= rel_root < 64) if interhand else 0.0
    inv = _original_trans(cx, cy, bbox[2], bbox[3], 256, p.scale, p.rot_deg, inv=True)
    return joint_coord, valid, rel_root, root_valid, hand_type, inv, trans


def _reference_warp(image, trans):
    """cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0) semantics in numpy: dst(x, y) = src(M⁻¹ (x, y))."""
    inverse = np.linalg.inv(np.vstack([trans, [0, 0, 1]]))[:2]
    ys, xs = np.mgrid[0:256, 0:256].astype(np.float64)
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    padded = np.zeros((image.shape[0] + 4, image.shape[1] + 4, 3))
    padded[2:-2, 2:-2] = image
    def fetch(y, x):
        inside = (y >= -2) & (y < image.shape[0] + 2) & (x >= -2) & (x < image.shape[1] + 2)
        values = padded[np.clip(y + 2, 0, padded.shape[0] - 1), np.clip(x + 2, 0, padded.shape[1] - 1)]
        return values * inside[..., None]
    out = (fetch(y0, x0) * ((1 - fx) * (1 - fy))[..., None] + fetch(y0, x0 + 1) * (fx * (1 - fy))[..., None]
           + fetch(y0 + 1, x0) * ((1 - fx) * fy)[..., None] + fetch(y0 + 1, x0 + 1) * (fx * fy)[..., None])
    return out


def _record(rng, interhand=True, width=512, height=334):
    joints = np.c_[rng.uniform(-40, width + 40, (42, 2)), rng.uniform(850, 1150, 42)]
    valid = (rng.random(42) > 0.15).astype(float)
    roots = [20, 41] if interhand else [21, 0]
    hand_type = rng.choice(["right", "left", "interacting"]) if interhand else rng.choice(["right", "left"])
    return {"joints_img": joints, "joint_valid": valid, "hand_type": str(hand_type), "hand_type_valid": 1,
            "root_joint_index": roots, "bbox": [rng.uniform(0, width / 2), rng.uniform(0, height / 2), 190.0, 190.0]}


CASES = [IDENTITY, AugmentParams(flip=True), AugmentParams(rot_deg=63.0), AugmentParams(rot_deg=-90.0, flip=True),
         AugmentParams(shift_x=0.15, shift_y=-0.15, scale=0.75), AugmentParams(scale=1.25, rot_deg=30, flip=True)]


@pytest.mark.parametrize("interhand", [True, False], ids=["ih26m-order", "stb-rhd-order"])
@pytest.mark.parametrize("params", CASES + [draw_augment_params(np.random.default_rng(s)) for s in range(6)])
def test_targets_match_the_original_computation(params, interhand):
    rng = np.random.default_rng(7)
    for _ in range(5):
        record = _record(rng, interhand)
        image = np.zeros((334, 512, 3), np.uint8)
        sample = augment_sample(image, record, params)
        hand = np.array({"right": [1, 0], "left": [0, 1], "interacting": [1, 1]}[record["hand_type"]], float)
        joints, valid, rel_root, root_valid, hand_out, inv, _ = _original_targets(
            record["joints_img"], record["joint_valid"], hand, record["bbox"], 512, params, record["root_joint_index"],
            interhand)
        np.testing.assert_allclose(sample.targets.joints_voxel, joints, atol=1e-4)
        np.testing.assert_array_equal(sample.targets.joint_valid, valid)
        np.testing.assert_allclose(sample.targets.rel_root_depth_bins, [rel_root], atol=1e-4)
        np.testing.assert_array_equal(sample.targets.root_valid, [root_valid])
        np.testing.assert_array_equal(sample.targets.hand_type, hand_out)
        np.testing.assert_allclose(sample.patch_to_flipped_img, inv, atol=1e-3)


def test_flip_swaps_left_and_right_joint_blocks_and_hand_type():
    record = _record(np.random.default_rng(3))
    record["hand_type"] = "right"
    record["joint_valid"] = np.r_[np.ones(21), np.zeros(21)]
    plain = augment_sample(np.zeros((334, 512, 3), np.uint8), record, AugmentParams(scale=3.0))
    flipped = augment_sample(np.zeros((334, 512, 3), np.uint8), record, AugmentParams(scale=3.0, flip=True))
    np.testing.assert_array_equal(flipped.targets.hand_type, [0, 1])
    assert flipped.targets.joint_valid[:21].sum() == 0 and flipped.targets.joint_valid[21:].sum() > 0
    # Mirrored about the patch's vertical axis: x → 64 − x (heatmap px); y and z unchanged.
    np.testing.assert_allclose(flipped.targets.joints_voxel[21:, 0], 64 - plain.targets.joints_voxel[:21, 0], atol=1e-4)
    np.testing.assert_allclose(flipped.targets.joints_voxel[21:, 1:], plain.targets.joints_voxel[:21, 1:], atol=1e-4)


def test_joints_leaving_the_crop_become_invalid():
    record = _record(np.random.default_rng(5))
    record["joint_valid"] = np.ones(42)
    sample = augment_sample(np.zeros((334, 512, 3), np.uint8), record, AugmentParams(scale=0.75))
    outside = (sample.targets.joints_voxel[:, :2] < 0).any(1) | (sample.targets.joints_voxel[:, :2] >= 64).any(1)
    assert outside.any() and not sample.targets.joint_valid[outside].any()


def test_identity_targets_of_a_real_sample_land_where_the_hand_is(real_ih26m_root):
    import json

    from PIL import Image

    from interhand.geometry.bbox import process_bbox
    from interhand.geometry.camera import camera_to_pixel, world_to_camera

    folder = real_ih26m_root / "annotations" / "test"
    data = json.loads((folder / "InterHand2.6M_test_data.json").read_text())
    cameras = json.loads((folder / "InterHand2.6M_test_camera.json").read_text())
    joints = json.loads((folder / "InterHand2.6M_test_joint_3d.json").read_text())
    for image, annotation in zip(data["images"], data["annotations"]):
        c, cam = str(image["capture"]), image["camera"]
        world = np.array(joints[c][str(image["frame_idx"])]["world_coord"])
        joints_cam = world_to_camera(world, np.array(cameras[c]["camrot"][cam]), np.array(cameras[c]["campos"][cam]))
        uv = camera_to_pixel(joints_cam, np.array(cameras[c]["focal"][cam]), np.array(cameras[c]["princpt"][cam]))
        record = {"joints_img": np.c_[uv, joints_cam[:, 2]], "joint_valid": np.array(annotation["joint_valid"]).ravel(),
                  "hand_type": annotation["hand_type"], "hand_type_valid": 1, "root_joint_index": [20, 41],
                  "bbox": process_bbox(np.array(annotation["bbox"]))}
        pixels = np.asarray(Image.open(real_ih26m_root / "images" / "test" / image["file_name"]).convert("RGB"))
        sample = augment_sample(pixels, record)
        valid = sample.targets.joint_valid > 0
        assert valid.sum() >= 20
        # The bbox is the tight box ×1.2 ×1.25: valid joints sit inside the central part of the patch.
        xy = sample.targets.joints_voxel[valid, :2]
        assert xy.min() > 64 * 0.08 and xy.max() < 64 * 0.92


@pytest.mark.parametrize("params", CASES)
def test_warped_patch_is_the_original_bilinear_warp_of_the_flipped_image(params):
    rng = np.random.default_rng(11)
    image = (rng.random((334, 512, 3)) * 40 + np.linspace(0, 200, 512)[None, :, None]).astype(np.uint8)
    bbox = [150.0, 60.0, 200.0, 200.0]
    img_to_patch, flipped_img_to_patch, _ = patch_affine(bbox, 512, params)
    ours = warp_patch(image, img_to_patch).astype(np.float64)
    source = image[:, ::-1] if params.flip else image  # the original warps the mirrored image with its `trans`
    reference = _reference_warp(source.astype(np.float64), flipped_img_to_patch)
    difference = np.abs(ours - reference)
    assert difference.mean() < MEAN_ABS_PIXEL_TOLERANCE
    assert difference.max() <= MAX_ABS_PIXEL_TOLERANCE


@pytest.mark.parametrize("source", ["generator", "counter"])
def test_drawn_parameters_follow_the_original_distributions(source):
    table = (draw_augment_params_array(np.random.default_rng(0), 4000) if source == "generator"
             else counter_params(seed=7, epoch=3, indices=np.arange(4000)))
    draws = [params_from_array(row) for row in table]
    shifts = np.array([[d.shift_x, d.shift_y] for d in draws])
    assert shifts.min() >= -0.15 and shifts.max() <= 0.15 and abs(shifts.mean()) < 0.01
    scales = np.array([d.scale for d in draws])
    assert scales.min() >= 0.75 and scales.max() <= 1.25
    # 1 + 0.25·clip(N, ±1): P(|N| > 1) = 0.317 of the draws sit on the clip.
    assert 0.29 < np.mean(np.abs(scales - 1.0) > 0.2499) < 0.345 and abs(np.median(scales) - 1.0) < 0.02
    rotations = np.array([d.rot_deg for d in draws])
    assert np.abs(rotations).max() <= 90 and 0.57 < np.mean(rotations != 0) < 0.63
    # 45°·clip(N, ±2) when rotated: P(|N| > 1) = 0.317 of those exceed 45°.
    assert 0.29 < np.mean(np.abs(rotations[rotations != 0]) > 45.0) < 0.345
    assert 0.47 < np.mean([d.flip for d in draws]) < 0.53
    colours = np.array([d.colour for d in draws])
    assert colours.min() >= 0.8 and colours.max() <= 1.2 and abs(colours.mean() - 1.0) < 0.01


def test_counter_parameters_depend_only_on_seed_epoch_and_index():
    whole = counter_params(0, 1, np.arange(100))
    np.testing.assert_array_equal(counter_params(0, 1, [42, 7]), whole[[42, 7]])
    assert not np.array_equal(counter_params(0, 2, np.arange(100)), whole)
    assert not np.array_equal(counter_params(1, 1, np.arange(100)), whole)


def test_batched_targets_equal_per_sample_targets():
    rng = np.random.default_rng(2)
    records = [_record(rng) for _ in range(6)]
    params = [draw_augment_params(rng) for _ in range(6)]
    single = [augment_sample(np.zeros((334, 512, 3), np.uint8), r, p).targets for r, p in zip(records, params)]
    flipped_img_to_patch = np.stack([patch_affine(r["bbox"], 512, p)[1] for r, p in zip(records, params)])
    hand = np.array([{"right": [1, 0], "left": [0, 1], "interacting": [1, 1]}[r["hand_type"]] for r in records], float)
    batched = augment_targets(np.stack([r["joints_img"] for r in records]),
                              np.stack([r["joint_valid"] for r in records]),
                              hand, np.array([r["root_joint_index"] for r in records]), np.full(6, 512),
                              flipped_img_to_patch,
                              np.array([p.flip for p in params]), np.ones(6, bool))
    for index, targets in enumerate(single):
        for name in targets._fields:
            np.testing.assert_allclose(getattr(batched, name)[index], getattr(targets, name), atol=1e-5)


def test_named_parameter_columns_read_the_fields_params_to_array_writes():
    params = AugmentParams(shift_x=0.1, shift_y=-0.05, scale=1.2, rot_deg=-30.0, flip=True, colour=(0.9, 1.0, 1.1))
    row = params_to_array(params)
    assert (row[PARAM_SHIFT_X], row[PARAM_SHIFT_Y]) == pytest.approx((0.1, -0.05))
    assert (row[PARAM_SCALE], row[PARAM_ROT_DEG]) == pytest.approx((1.2, -30.0))
    assert row[PARAM_COLOUR] == pytest.approx((0.9, 1.0, 1.1))
    assert row[PARAM_FLIP] == 1.0 and params_flip(row)
    table = np.stack([row, params_to_array(IDENTITY)])
    np.testing.assert_array_equal(params_flip(table), [True, False])
    assert params_from_array(row) == params_from_array(row.astype(np.float64))
    assert params_from_array(row).colour == pytest.approx(params.colour)
