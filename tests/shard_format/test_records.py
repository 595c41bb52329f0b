"""encode/decode round-trip bit for bit (tests/shard_format/test_spec.py checks SHARD_FORMAT.md's tables)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interhand.shard_format.ann_codec import ANN_BYTES, check_ann, decode_ann, decode_ann_records
from interhand.shard_format.json_numbers import array_texts
from interhand.shard_format.names import sample_key, shard_name
from interhand.shard_format.records import decode_sample, encode_sample
from interhand.shard_format.sample import Sample
from interhand.shard_format.version import FORMAT_VERSION, FormatVersionError


def _sample(**overrides) -> Sample:
    rng = np.random.default_rng(0)
    values = dict(
        dataset="interhand26m", split="train", annotation_id=123456, image_id=7, image_path="/x/image1.jpg",
        file_name="Capture0/seq/cam400262/image1.jpg", width=334, height=512, hand_type="interacting",
        hand_type_valid=1, joints_img=rng.normal(size=(42, 3)).astype(np.float32),
        joints_cam_mm=rng.normal(size=(42, 3)).astype(np.float32),
        joints_world_mm=rng.normal(size=(42, 3)).astype(np.float32), joint_valid=np.ones(42, np.float32),
        joint_valid_raw=np.ones(42, np.float32), root_joint_index=(20, 41),
        bbox=np.array([1, 2, 30, 30], np.float32), bbox_raw=np.array([5, 6, 20, 24], np.float32),
        abs_depth_gt_mm=np.array([900, 950], np.float32), focal=np.array([1200, 1201], np.float32),
        princpt=np.array([167, 256], np.float32), capture=0, seq_name="seq", camera="400262", frame_idx=1,
        rootnet_bbox=np.array([0, 0, 40, 40], np.float32), rootnet_abs_depth_mm=np.array([910, 940], np.float32),
        rootnet_root_valid=np.array([1, 0], np.float32),
        mano={"right": {"pose": np.arange(48) / 48, "shape": np.arange(10) / 10, "trans": np.array([0.1, 0.2, 1.0])}})
    values.update(overrides)
    return Sample(**values)


def test_keys_follow_the_scheme_and_never_contain_a_dot():
    assert sample_key("interhand26m", "train", 123456) == "ih26m-train-000123456"
    assert "." not in sample_key("stb", "test", 0)
    assert shard_name("val", 3) == "val-000003.tar"
    with pytest.raises(ValueError, match="not one of"):
        sample_key("coco2017", "train", 1)


def test_encode_decode_round_trips_every_ann_field():
    sample = _sample()
    members = encode_sample(sample, b"\xff\xd8jpeg bytes\xff\xd9")
    assert sorted(members) == ["ann", "jpg", "json"] and len(members["ann"]) == ANN_BYTES
    decoded = decode_sample(members)
    assert decoded["image"] == b"\xff\xd8jpeg bytes\xff\xd9" and decoded["image_member"] == "jpg"
    ann = decoded["ann"]
    np.testing.assert_array_equal(ann["joints_img"], sample.joints_img)
    np.testing.assert_array_equal(ann["joints_world_mm"], sample.joints_world_mm)
    np.testing.assert_array_equal(ann["hand_type_onehot"], [1, 1])
    np.testing.assert_array_equal(ann["rootnet_abs_depth_mm"], [910, 940])
    np.testing.assert_array_equal(ann["mano_valid"], [1, 0])
    np.testing.assert_allclose(ann["mano_trans_m"][0], [0.1, 0.2, 1.0], rtol=1e-7)
    np.testing.assert_array_equal(ann["image_size_px"], [334, 512])
    record = decoded["json"]
    assert record["key"] == "ih26m-train-000123456" and record["hand_type"] == "interacting"
    assert record["mano_right_valid"] == 1 and record["mano_left_valid"] == 0 and record["mano_left_pose"] == [0.0] * 48
    np.testing.assert_allclose(decoded["json"]["joints_cam_mm"], sample.joints_cam_mm, atol=1e-4)


def test_png_sources_stay_png_and_absent_joins_are_zero_with_invalid_flags():
    members = encode_sample(_sample(image_path="/x/a.png", rootnet_bbox=None, rootnet_abs_depth_mm=None,
                                    rootnet_root_valid=None, mano={}), b"\x89PNG")
    assert "png" in members and "jpg" not in members
    ann = decode_ann(members["ann"])
    assert ann["rootnet_valid"][0] == 0 and not ann["mano_valid"].any() and not ann["rootnet_bbox"].any()


def test_an_absent_hand_is_flagged_0_and_stored_as_zeros_whatever_hand_type_says():
    """Presence follows joint_valid_raw (SHARD_FORMAT.md §4.4): an interacting sample whose left hand has no annotated
    joint has that hand absent, its joints (image, camera, world) and depth zeros in the `.ann` and the `.json`; a hand
    whose wrist alone is annotated-invalid is present and keeps its numbers; a valid joint is never zeroed."""
    raw = np.ones(42, np.float32)
    raw[21:] = 0          # the left hand: nothing annotated
    raw[20] = 0           # the right wrist unannotated, its fingers annotated
    valid = raw.copy()
    valid[:21] = 0        # root-masked
    sample = _sample(joint_valid_raw=raw, joint_valid=valid)
    members = encode_sample(sample, b"")
    ann, record = decode_ann(members["ann"]), json.loads(members["json"])
    np.testing.assert_array_equal(ann["hand_present"], [1, 0])
    assert (record["right_present"], record["left_present"], record["hand_type"]) == (1, 0, "interacting")
    for name in ("joints_img", "joints_cam_mm", "joints_world_mm"):
        np.testing.assert_array_equal(ann[name][:21], getattr(sample, name)[:21])  # present: kept, invalid or not
        assert not ann[name][21:].any() and not np.asarray(record[name])[21:].any()
    np.testing.assert_array_equal(ann["abs_depth_gt_mm"], [900, 0])
    assert record["abs_depth_gt_mm"] == [900.0, 0.0] and record["num_valid_right"] == 0
    none = encode_sample(_sample(joint_valid_raw=np.zeros(42, np.float32), joint_valid=np.zeros(42, np.float32)), b"")
    ann = decode_ann(none["ann"])
    assert not ann["hand_present"].any() and not ann["joints_cam_mm"].any() and not ann["abs_depth_gt_mm"].any()
    stb_order = encode_sample(_sample(dataset="stb", root_joint_index=(21, 0), hand_type="left",
                                      joint_valid_raw=np.r_[np.ones(21), np.zeros(21)].astype(np.float32)), b"")
    ann = decode_ann(stb_order["ann"])  # STB/RHD: the left hand is 0..20
    np.testing.assert_array_equal(ann["hand_present"], [0, 1])
    assert ann["joints_img"][:21].any() and not ann["joints_img"][21:].any()


def test_a_record_of_an_older_version_is_refused_with_how_to_rewrite_it():
    members = encode_sample(_sample(), b"")
    version_3 = np.frombuffer(members["ann"], "<f4")[:629].copy()  # version 3: 629 floats, 2516 bytes
    version_3[0] = 3.0
    with pytest.raises(FormatVersionError,
                       match="format_version 3 found, this code reads 4; re-run `interhand shards`"):
        decode_ann(version_3.tobytes(), "x.ann")
    with pytest.raises(ValueError, match="x.ann: 2516 bytes, a format 4 .ann record has 2524"):
        decode_ann(np.r_[np.float32(4.0), version_3[1:]].astype("<f4").tobytes(), "x.ann")


def test_readers_reject_another_format_version_naming_found_and_expected():
    members = encode_sample(_sample(), b"")
    record = np.frombuffer(members["ann"], "<f4").copy()
    record[0] = FORMAT_VERSION + 1
    with pytest.raises(FormatVersionError, match=f"{FORMAT_VERSION + 1}.*reads {FORMAT_VERSION}"):
        decode_ann(record.tobytes())
    for version in (FORMAT_VERSION + 0.5, float("nan")):  # not truncated to the version, nor passed as one
        record[0] = version
        with pytest.raises(FormatVersionError, match=f"format_version {version!r} found"):
            check_ann(record.tobytes())
        with pytest.raises(FormatVersionError, match=f"format_version {version!r} found"):
            decode_ann_records(record[None])
    text = json.loads(members["json"])
    text["format_version"] = 99
    with pytest.raises(FormatVersionError, match="99"):
        decode_sample({**members, "json": json.dumps(text).encode()})


def test_json_numbers_are_what_json_dumps_writes_for_the_rounded_arrays_of_any_shape():
    rng = np.random.default_rng(1)
    shapes = ((4,), (2, 3), (1,), (2, 2, 2))
    values = (rng.standard_normal((64, 19)) * rng.choice([1e-5, 1.0, 100.0, 2000.0], size=(64, 19))).astype(np.float32)
    values[0, :6] = [-0.0, 5e-5, -1.5e-4, 0.03125, 9999.9, -9999.9]
    values[1, 0], values[2, 5], values[3, 18] = 9999.99995, -1e6, 12345.6  # rows past the fast path's tables
    starts = np.cumsum([0, *(int(np.prod(shape)) for shape in shapes)])
    for row, texts in zip(values, array_texts(values, shapes)):
        assert texts == [json.dumps(row[start:stop].astype(np.float64).round(4).reshape(shape).tolist(),
                                    separators=(",", ":"))
                         for start, stop, shape in zip(starts[:-1], starts[1:], shapes)]
