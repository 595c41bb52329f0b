"""`interhand shards --jpeg baseline`: progressive JPEGs stored re-encoded as baseline with identical pixels,
everything else stored as it is, the provenance in the manifest, `verify --check-sources`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from interhand.cli import main
from interhand.config import PreprocessConfig
from interhand.preprocess import images
from interhand.preprocess.images import store_image
from interhand.preprocess.run import run
from interhand.preprocess.sources import SourceError
from interhand.preprocess.verify import verify_shard_dir
from interhand.shard_format.version import FORMAT_VERSION, FormatVersionError, check_format_version

from helpers import REAL_SAMPLES, make_shards

needs_extension = pytest.mark.skipif(not images.REENCODING, reason="the re-encoding extension is not built")


def _jpeg(image: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _frame_markers(data: bytes) -> list[int]:
    """The start-of-frame markers (0xC0 baseline, 0xC1 extended, 0xC2 progressive, ...) of a JPEG."""
    found, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the headers are over
            break
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            found.append(marker)
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return found


def _progressive_frames() -> dict[str, bytes]:
    """The real progressive 4:2:0 frames, and synthetic progressive 4:2:0, 4:2:2, 4:4:4, gray and odd-sized ones."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8), (0, 0), 2)
    frames = {path.name: path.read_bytes() for path in sorted(REAL_SAMPLES.glob("*.jpg"))}
    for name, subsampling in (("4:2:0", 2), ("4:2:2", 1), ("4:4:4", 0)):
        frames[f"progressive {name}"] = _jpeg(texture, quality=90, subsampling=subsampling, progressive=True)
    frames["progressive gray"] = _jpeg(texture[:, :, 1], quality=90, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: decoders that apply it must see it in the stored file too
    frames["progressive 4:2:0 odd size, EXIF"] = _jpeg(texture[:37, :61], quality=75, progressive=True,
                                                       exif=exif.tobytes())
    return frames


PROGRESSIVE = _progressive_frames()


@needs_extension
@pytest.mark.parametrize("name", sorted(PROGRESSIVE))
def test_progressive_frames_become_baseline_with_identical_pixels(name):
    source = PROGRESSIVE[name]
    assert _frame_markers(source) == [0xC2]
    stored = store_image(source, "jpg", "baseline")
    assert stored.encoding == "baseline" and stored.reason == ""
    assert _frame_markers(stored.data) == [0xC0]
    assert stored.source_size == len(source) and stored.source_sha256 == hashlib.sha256(source).hexdigest()
    for flags in (cv2.IMREAD_UNCHANGED, cv2.IMREAD_COLOR):
        original = cv2.imdecode(np.frombuffer(source, np.uint8), flags)
        assert np.array_equal(cv2.imdecode(np.frombuffer(stored.data, np.uint8), flags), original)
    with Image.open(io.BytesIO(source)) as original, Image.open(io.BytesIO(stored.data)) as again:
        assert again.mode == original.mode and np.array_equal(np.asarray(again), np.asarray(original))
        assert again.info.get("exif") == original.info.get("exif")  # APPn markers are copied
    # Optimized Huffman tables: the real frames grow 1-4 %, the noisier synthetic ones up to 7 %.
    assert len(stored.data) <= len(source) * (1.04 if name.endswith(".jpg") else 1.08)
    assert images.to_baseline(stored.data) == (None, "already sequential")


@needs_extension
def test_what_the_re_encoder_cannot_or_need_not_handle_is_stored_as_it_is():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    progressive = _jpeg(image, progressive=True)
    cmyk = io.BytesIO()
    Image.fromarray(image).convert("CMYK").save(cmyk, format="JPEG", progressive=True)
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    cases = {
        "already sequential": (_jpeg(image), "jpg", "baseline"),
        "not YCbCr or grayscale (CMYK, YCCK or RGB coding)": (cmyk.getvalue(), "jpg", "baseline"),
        "libjpeg warns on it (corrupt data)": (progressive[:len(progressive) // 2] + b"\xff\xd9", "jpg", "baseline"),
        "png": (png.getvalue(), "png", "baseline"),
        "--jpeg source": (progressive, "jpg", "source"),
    }
    for reason, (data, member, mode) in cases.items():
        stored = store_image(data, member, mode)
        assert (stored.data, stored.encoding, stored.reason) == (data, "source", reason)
    broken = store_image(b"\xff\xd8\xff\xd9", "jpg", "baseline")  # libjpeg fails outright: kept, with its message
    assert broken.encoding == "source" and broken.reason.startswith("JPEG re-encoding failed:")


@pytest.mark.parametrize("old_version", [1, 2])
def test_an_older_folder_is_refused_with_how_to_rewrite_it(old_version):
    with pytest.raises(FormatVersionError, match=rf"format_version {old_version} found, this code reads "
                                                 rf"{FORMAT_VERSION}; re-run `interhand shards`"):
        check_format_version(old_version, "dataset.json")


@needs_extension
def test_baseline_shards_record_their_sources_verify_them_and_are_byte_identical(real_ih26m_root, tmp_path):
    runs = [make_shards(tmp_path / name, real_ih26m_root, split="test") for name in ("first", "second")]
    first, second = runs
    for tar in sorted(first.glob("*.tar")) + sorted(first.glob("*.idx")) + [first / "manifest.parquet"]:
        assert (second / tar.name).read_bytes() == tar.read_bytes()
    rows = pq.read_table(first / "manifest.parquet").to_pylist()
    assert [row["image_encoding"] for row in rows] == ["baseline"] * len(rows) and len(rows) == 4
    for row in rows:
        source = (real_ih26m_root / row["source_file"]).read_bytes()
        assert row["source_file"].startswith("images/test/Capture")
        assert (row["source_size"], row["source_sha256"]) == (len(source), hashlib.sha256(source).hexdigest())
        assert row["image_sha256"] != row["source_sha256"] and row["image_encoding_reason"] == ""
        with open(first / row["shard"], "rb") as tar:
            tar.seek(row["image_offset"])
            assert _frame_markers(tar.read(row["image_size"])) == [0xC0]
    assert json.loads((first / "dataset.json").read_text())["image_encodings"] == {"baseline": 4, "source": 0}
    assert verify_shard_dir(first, sources_root=real_ih26m_root) == []
    result = CliRunner().invoke(main, ["verify", str(first), "--check-sources"])  # dataset.json names it only
    assert result.exit_code != 0 and "pass --source-root DATA_DIR" in result.output
    result = CliRunner().invoke(main, ["verify", str(first), "--check-sources", "--source-root", str(real_ih26m_root)])
    assert result.exit_code == 0, result.output

    # A source that changed since, or a member whose pixels differ, is named with its sample.
    tampered = tmp_path / "tampered"
    shutil.copytree(real_ih26m_root, tampered)
    changed = tampered / rows[1]["source_file"]
    changed.write_bytes(changed.read_bytes()[:-2] + b"\x00\xff\xd9")
    problems = verify_shard_dir(first, sources_root=tampered)
    assert problems == [f"{rows[1]['shard']}: {rows[1]['key']}.jpg: source {changed} is not the file it was made "
                        f"from (size or SHA-256 differs)"]
    result = CliRunner().invoke(main, ["verify", str(first), "--check-sources", "--source-root", str(tampered)])
    assert result.exit_code != 0 and rows[1]["key"] in result.output


def test_source_shards_store_the_files_untouched(real_ih26m_root, tmp_path):
    split_dir = make_shards(tmp_path, real_ih26m_root, split="test", jpeg="source")
    rows = pq.read_table(split_dir / "manifest.parquet").to_pylist()
    for row in rows:
        source = (real_ih26m_root / row["source_file"]).read_bytes()
        with open(split_dir / row["shard"], "rb") as tar:
            tar.seek(row["image_offset"])
            assert tar.read(row["image_size"]) == source
        assert (row["image_encoding"], row["image_encoding_reason"]) == ("source", "--jpeg source")
        assert row["image_sha256"] == row["source_sha256"]
    assert verify_shard_dir(split_dir, sources_root=real_ih26m_root) == []


def test_without_the_extension_baseline_fails_with_one_line(real_ih26m_root, tmp_path, monkeypatch):
    monkeypatch.setattr(images, "REENCODING", False)
    with pytest.raises(SourceError, match=r"--jpeg baseline .* not built here .* pass --jpeg source"):
        make_shards(tmp_path, real_ih26m_root, split="test")
    result = CliRunner().invoke(main, ["shards", "--root", str(real_ih26m_root), "--split", "test", "--out",
                                       str(tmp_path), "--no-progress"])
    assert result.exit_code != 0 and result.output.count("\n") == 1 and "--jpeg source" in result.output
    assert not list(Path(tmp_path).rglob("*.tar"))


def test_the_re_encoding_extension_is_built_here():
    assert images.REENCODING, "pip install did not build interhand/preprocess/_jpeg_baseline.c"


@needs_extension
def test_a_re_run_with_the_other_jpeg_mode_rewrites_the_shards(real_ih26m_root, tmp_path):
    split_dir = make_shards(tmp_path, real_ih26m_root, split="test")
    config = PreprocessConfig(data=str(real_ih26m_root), shards=str(tmp_path), split="test", progress=False,
                              jpeg="source")
    summary = run(config)
    assert summary.resumed_shards == 0  # the plan hash holds --jpeg: nothing written the other way is kept
    rows = pq.read_table(split_dir / "manifest.parquet").to_pylist()
    assert {row["image_encoding"] for row in rows} == {"source"}
    assert verify_shard_dir(split_dir, sources_root=real_ih26m_root) == []
