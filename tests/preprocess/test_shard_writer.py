"""Shard writer pieces: tar headers as tarfile writes them, image checks with readable reasons."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from interhand.preprocess.shard_writer import TarWriter, check_image, dali_index_text, ustar_header
from interhand.shard_format import Sample


def _sample(path: Path, width: int, height: int) -> Sample:
    zeros = np.zeros((42, 3), np.float32)
    return Sample(dataset="interhand26m", split="test", annotation_id=1, image_id=1, image_path=str(path),
                  file_name=path.name, width=width, height=height, hand_type="right", hand_type_valid=1,
                  joints_img=zeros, joints_cam_mm=zeros, joints_world_mm=zeros, joint_valid=np.zeros(42),
                  joint_valid_raw=np.zeros(42), root_joint_index=(20, 41), bbox=np.ones(4), bbox_raw=np.ones(4),
                  abs_depth_gt_mm=np.zeros(2), focal=np.ones(2), princpt=np.ones(2))


def test_headers_equal_what_tarfile_writes_for_our_fixed_fields():
    for name, size in (("ih26m-train-001000018.ann", 2516), ("a.jpg", 0), ("x" * 100, 123456789)):
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
