"""`interhand predict` end to end on a tiny checkpoint (its warp is the loaders', tested there)."""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFile

from interhand.cli import main
from interhand.config import ModelConfig
from interhand.model import InterNet, save_checkpoint
from interhand.predict import MAX_IMAGE_PIXELS


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    model = InterNet(ModelConfig(resnet_type=18))
    return save_checkpoint(tmp_path / "tiny.pt", model, epoch=0)


def test_interhand_predict_writes_both_plots_and_prints_joints_as_json(tmp_path, tiny_checkpoint):
    image_path = tmp_path / "input.jpg"
    Image.fromarray((np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)).save(image_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(image_path),
                                       "--bbox", "69,137,165,153", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    assert len(printed["joints"]) == 42 and all(len(joint) == 3 for joint in printed["joints"])
    assert set(printed["hand_type"]) == {"right", "left"}
    assert printed["bbox_processed_xywh"] == pytest.approx([48.375, 110.375, 206.25, 206.25])
    for name in ("result_2d.png", "result_3d.png"):
        with Image.open(out / name) as written:
            assert written.format == "PNG" and written.size[0] > 100
    with Image.open(out / "result_2d.png") as overlay:
        assert overlay.size == (320, 240)


def test_interhand_predict_refuses_a_malformed_bbox(tmp_path, tiny_checkpoint):
    image_path = tmp_path / "input.png"
    Image.new("RGB", (64, 64)).save(image_path)
    result = CliRunner().invoke(main, ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(image_path),
                                       "--bbox", "1,2,3"])
    assert result.exit_code != 0 and "x,y,w,h" in result.output


# --- hostile inputs (#28): one line naming the file or the box, exit code 1, no traceback ---

def _png(width: int, height: int, pixel_rows: bytes | None = None) -> bytes:
    """A PNG (RGB, 8 bit) of any declared size; its data all-black rows unless given."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if pixel_rows is None:
        pixel_rows = bytes(height * (1 + 3 * width))  # filter byte 0 and black pixels, row after row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixel_rows, 9)) + chunk(b"IEND", b""))


def _truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _bad_crc(path):
    data = bytearray(_png(8, 8))
    data[-20] ^= 0xFF  # inside IDAT's data: its CRC no longer matches
    path.write_bytes(bytes(data))


BAD_IMAGES = {
    "truncated JPEG": ("a.jpg", _truncated_jpeg),
    "0x0 PNG": ("a.png", lambda path: path.write_bytes(_png(0, 0, b""))),
    "text named .jpg": ("a.jpg", lambda path: path.write_text("not an image\n")),
    "empty file": ("a.jpg", lambda path: path.write_bytes(b"")),
    "bad PNG CRC": ("a.png", _bad_crc),
    "30000x30000 PNG": ("a.png", lambda path: path.write_bytes(_png(30000, 30000, b""))),
}


def _refused(arguments) -> str:
    result = CliRunner().invoke(main, ["predict", *arguments])
    output = result.output.strip()
    assert result.exit_code == 1, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    return output


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_an_unreadable_image_is_one_line_naming_it(case, tmp_path, tiny_checkpoint):
    name, write = BAD_IMAGES[case]
    path = tmp_path / name
    write(path)
    output = _refused(["--checkpoint", str(tiny_checkpoint), "--image", str(path), "--bbox", "0,0,8,8",
                       "--out-dir", str(tmp_path / "out")])
    assert str(path) in output


def test_a_12000_px_png_of_140_kb_is_refused_from_its_header_before_decoding(tmp_path, tiny_checkpoint, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(12000, 12000))
    assert path.stat().st_size < 1_000_000  # a few hundred KB declaring 432 MB of pixels
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    output = _refused(["--checkpoint", str(tiny_checkpoint), "--image", str(path), "--bbox", "0,0,80,80"])
    assert "12000×12000 px" in output and f"{MAX_IMAGE_PIXELS // 10**6} MP" in output and not decoded


@pytest.mark.parametrize("bbox, message", [
    ("500,500,40,40", "lies outside the 64×48 px image"),
    ("-100,10,50,20", "lies outside"),
    ("nan,0,10,10", "four finite numbers"),
    ("0,0,inf,10", "four finite numbers"),
    ("1e400,0,10,10", "four finite numbers"),
])
def test_a_box_outside_the_image_or_not_finite_is_one_line(bbox, message, tmp_path, tiny_checkpoint):
    path = tmp_path / "input.png"
    Image.new("RGB", (64, 48)).save(path)
    assert message in _refused(["--checkpoint", str(tiny_checkpoint), "--image", str(path), "--bbox", bbox])


def test_a_non_finite_network_output_is_refused_never_printed_as_nan(tmp_path, tiny_checkpoint, monkeypatch):
    from interhand import predict

    path = tmp_path / "input.png"
    Image.new("RGB", (64, 48)).save(path)
    monkeypatch.setattr(predict, "decode_joints_img", lambda *args: np.full((42, 3), np.nan))
    output = _refused(["--checkpoint", str(tiny_checkpoint), "--image", str(path), "--bbox", "0,0,20,20",
                       "--out-dir", str(tmp_path / "out")])
    assert "not finite" in output and "NaN," not in output
