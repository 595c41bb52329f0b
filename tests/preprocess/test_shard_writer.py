"""Shard writer pieces: tar headers as tarfile writes them, image checks with readable reasons, and the batch
encoders writing exactly the bytes of the one-sample reference."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interhand.preprocess.images import check_image
from interhand.preprocess.tar_writer import TarWriter, ustar_header
from interhand.shard_format.ann_codec import ANN_BYTES, ANN_LAYOUT, encode_ann_records
from interhand.shard_format.dali_index import dali_index_text
from interhand.shard_format.records import encode_json_records, encode_sample
from interhand.shard_format.sample import Sample
from interhand.shard_format.version import FORMAT_VERSION
from interhand.skeleton import HAND_TYPE_VECTORS


def _sample(path: Path, width: int, height: int) -> Sample:
    zeros = np.zeros((42, 3), np.float32)
    return Sample(dataset="interhand26m", split="test", annotation_id=1, image_id=1, image_path=str(path),
                  file_name=path.name, width=width, height=height, hand_type="right", hand_type_valid=1,
                  joints_img=zeros, joints_cam_mm=zeros, joints_world_mm=zeros, joint_valid=np.zeros(42),
                  joint_valid_raw=np.zeros(42), root_joint_index=(20, 41), bbox=np.ones(4), bbox_raw=np.ones(4),
                  abs_depth_gt_mm=np.zeros(2), focal=np.ones(2), princpt=np.ones(2))


def test_headers_equal_what_tarfile_writes_for_our_fixed_fields():
    for name, size in (("ih26m-train-001000018.ann", ANN_BYTES), ("a.jpg", 0), ("x" * 100, 123456789)):
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o444, 0, 0, "", ""
        assert ustar_header(name, size) == info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def test_tar_writer_output_is_a_readable_tar_with_the_recorded_offsets():
    buffer = io.BytesIO()
    writer = TarWriter(buffer)
    offsets = {name: writer.add(name, data) for name, data in (("k.ann", b"a" * 700), ("k.jpg", b"\xff\xd8x"))}
    writer.close()
    raw = buffer.getvalue()
    assert len(raw) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        assert {m.name: m.offset_data for m in archive.getmembers()} == offsets
    assert raw[offsets["k.jpg"]:offsets["k.jpg"] + 3] == b"\xff\xd8x"
    assert dali_index_text([("k", [("ann", 512, 700)])]) == "v1.2 1\nann 512 700 k.ann\n"


def test_image_checks_name_the_problem_and_the_file(real_ih26m_root, tmp_path):
    path = next((real_ih26m_root / "images").rglob("*.jpg"))
    data = path.read_bytes()
    width, height = Image.open(path).size
    assert check_image(data, _sample(path, width, height), full_decode=True) == ""
    assert "truncated JPEG" in check_image(data[:3000], _sample(path, width, height), False)
    assert "not a JPEG" in check_image(b"GIF89a" + data, _sample(path, width, height), False)
    reason = check_image(data, _sample(path, width + 1, height), False)
    assert f"{width}x{height} px but the annotation says {width + 1}x{height}" in reason and str(path) in reason
    png = tmp_path / "a.png"
    Image.new("RGB", (32, 24)).save(png)
    assert check_image(png.read_bytes(), _sample(png, 32, 24), full_decode=True) == ""
    assert "truncated or invalid PNG" in check_image(png.read_bytes()[:-20], _sample(png, 32, 24), False)


def _hands(sample: Sample) -> tuple[list[bool], dict[str, np.ndarray]]:
    """SHARD_FORMAT.md §4.4, the IH26M joint order: [right, left] present when one of its 21 joint_valid_raw flags is 1;
    the joints and wrist depth with an absent hand's zeroed."""
    present = [bool(np.any(sample.joint_valid_raw[:21])), bool(np.any(sample.joint_valid_raw[21:]))]
    values = {name: np.array(getattr(sample, name), np.float32)
              for name in ("joints_img", "joints_cam_mm", "joints_world_mm", "abs_depth_gt_mm")}
    for hand, block in ((0, slice(0, 21)), (1, slice(21, 42))):
        if not present[hand]:
            values["abs_depth_gt_mm"][hand] = 0
            for name in ("joints_img", "joints_cam_mm", "joints_world_mm"):
                values[name][block] = 0
    return present, values


def _reference_ann(sample: Sample) -> bytes:
    """The `.ann` record as SHARD_FORMAT.md §4.1 lays it out, packed field by field (the one-sample way)."""
    present, zeroed = _hands(sample)
    mano = {f"{hand}_{part}": sample.mano[hand][part] if hand in sample.mano else np.zeros(size)
            for hand in ("right", "left") for part, size in (("pose", 48), ("shape", 10), ("trans", 3))}
    values = {
        "format_version": FORMAT_VERSION, **zeroed, "joint_valid": sample.joint_valid,
        "joint_valid_raw": sample.joint_valid_raw, "hand_type_onehot": HAND_TYPE_VECTORS[sample.hand_type],
        "hand_type_valid": sample.hand_type_valid, "root_joint_index": sample.root_joint_index, "bbox": sample.bbox,
        "bbox_raw": sample.bbox_raw,
        "rootnet_valid": float(sample.rootnet_abs_depth_mm is not None),
        "rootnet_bbox": np.zeros(4) if sample.rootnet_bbox is None else sample.rootnet_bbox,
        "rootnet_abs_depth_mm": np.zeros(2) if sample.rootnet_abs_depth_mm is None else sample.rootnet_abs_depth_mm,
        "rootnet_root_valid": np.zeros(2) if sample.rootnet_root_valid is None else sample.rootnet_root_valid,
        "focal": sample.focal, "princpt": sample.princpt, "image_size_px": (sample.width, sample.height),
        "campos_mm": sample.campos_mm, "camrot": sample.camrot,
        "mano_valid": [float("right" in sample.mano), float("left" in sample.mano)],
        "mano_pose": [mano["right_pose"], mano["left_pose"]], "mano_shape": [mano["right_shape"], mano["left_shape"]],
        "mano_trans_m": [mano["right_trans"], mano["left_trans"]], "hand_present": np.asarray(present, float)}
    flat = np.concatenate([np.ravel(np.asarray(values[name], np.float32)) for name in ANN_LAYOUT])
    return flat.astype("<f4").tobytes()


def _reference_json(sample: Sample, subset: str = "all") -> bytes:
    """The `.json` record of SHARD_FORMAT.md §4.2 through json.dumps (sorted keys, floats rounded to 1e-4): the
    manifest's content columns, absent RootNet/MANO joins zero-filled with their flags 0."""
    def rounded(array, size=None):
        array = np.zeros(size) if array is None else array
        return np.asarray(array, np.float32).astype(np.float64).round(4).tolist()

    present, zeroed = _hands(sample)
    record = {name: rounded(getattr(sample, name)) for name in (
        "joint_valid", "joint_valid_raw", "bbox", "bbox_raw", "focal", "princpt", "campos_mm", "camrot")}
    record.update({name: rounded(values) for name, values in zeroed.items()})
    record.update(right_present=int(present[0]), left_present=int(present[1]))
    record.update({name: getattr(sample, name) for name in (
        "dataset", "split", "annotation_id", "image_id", "file_name", "width", "height", "capture", "subject",
        "seq_name", "camera", "frame_idx", "hand_type", "hand_type_valid")})
    record.update(format_version=FORMAT_VERSION, key=sample.key, root_joint_index=list(sample.root_joint_index),
                  subset=subset)
    valid = sample.joint_valid > 0
    record.update(num_valid_right=int(valid[:21].sum()), num_valid_left=int(valid[21:].sum()))  # IH26M order
    record["rootnet_valid"] = int(sample.rootnet_abs_depth_mm is not None)
    record.update(rootnet_bbox=rounded(sample.rootnet_bbox, 4),
                  rootnet_abs_depth_mm=rounded(sample.rootnet_abs_depth_mm, 2),
                  rootnet_root_valid=rounded(sample.rootnet_root_valid, 2))
    for hand in ("right", "left"):
        params = sample.mano.get(hand, {})
        record[f"mano_{hand}_valid"] = int(hand in sample.mano)
        record.update({f"mano_{hand}_{name}": rounded(params.get(part), size)
                       for name, part, size in (("pose", "pose", 48), ("shape", "shape", 10), ("trans_m", "trans", 3))})
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _awkward_samples(count: int) -> list[Sample]:
    """Samples whose numbers test the JSON writer: -0.0, ties at the 4th decimal, values past its fast range
    (10,000 and up, 1e20), tiny ones, partial RootNet joins, either MANO hand, non-ASCII file names."""
    rng = np.random.default_rng(7)
    inside = [0.0, -0.0, 1e-5, -1e-5, 5e-5, -5e-5, 0.03125, -0.03125, 123.45675, 9999.9, -9999.9, 0.1, 2.5]
    special = np.array(inside + [9999.99995, -9999.99996, 1e4, 12345.678, 3e12, 1e20])
    samples = []
    for index in range(count):
        def values(*shape):
            if index % 3 == 0:
                return rng.normal(0, 300, shape).astype(np.float32)
            if index % 3 == 1:
                return rng.choice(special[:len(inside)], shape)
            return rng.choice(special, shape)
        sample = _sample(Path(f"/data/ä{index}.png" if index % 4 == 0 else f"/data/{index}.jpg"), 334, 512)
        sample.annotation_id, sample.hand_type = index * 7919, ("right", "left", "interacting")[index % 3]
        sample.file_name, sample.camera, sample.seq_name = f'Capt\u00fcre/"{index}".jpg', str(400000 + index), "s\\q"
        for name in ("joints_img", "joints_cam_mm", "joints_world_mm"):
            setattr(sample, name, values(42, 3))
        sample.joint_valid = (rng.random(42) > 0.3).astype(np.float32)
        sample.joint_valid_raw = sample.joint_valid.copy()
        if index % 6 == 0:  # one hand absent (SHARD_FORMAT.md §4.4): zeros where the numbers above were
            sample.joint_valid_raw[21:] = 0
        elif index % 6 == 3:
            sample.joint_valid_raw[:21] = 0
        sample.bbox, sample.bbox_raw, sample.focal, sample.camrot = values(4), values(4), values(2), values(3, 3)
        if index % 5:
            sample.rootnet_abs_depth_mm = values(2)
            sample.rootnet_bbox = values(4) if index % 5 in (1, 2) else None
            sample.rootnet_root_valid = values(2) if index % 5 in (1, 3) else None
        sample.mano = {hand: {"pose": values(48), "shape": values(10), "trans": values(3)}
                       for hand, keep in (("right", index % 2), ("left", index % 4 < 2)) if keep}
        samples.append(sample)
    return samples


def test_batch_encoders_write_the_bytes_of_the_one_sample_reference():
    samples = _awkward_samples(90)
    records = encode_ann_records(samples)
    texts = encode_json_records(records, [sample.info() for sample in samples], "machine_annot")
    for sample, record, text in zip(samples, records, texts):
        assert record.tobytes() == _reference_ann(sample)
        assert text == _reference_json(sample, "machine_annot"), sample.key
        assert encode_sample(sample, b"", "machine_annot")["json"] == text


def test_batch_json_refuses_non_finite_numbers_as_json_dumps_does():
    (sample,) = _awkward_samples(1)
    sample.bbox = np.array([np.nan, 1, 2, 3], np.float32)
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode_json_records(encode_ann_records([sample]), [sample.info()], "all")
