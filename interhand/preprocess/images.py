"""The image member: the checks an image file passes before it is stored (`check_image`) and what is stored for it
under `--jpeg` (`store_image`: a progressive JPEG re-encoded losslessly as baseline, else the source bytes)."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Union

from PIL import Image

from interhand.shard_format.sample import Sample, SampleInfo

try:
    from interhand.preprocess._jpeg_baseline import to_baseline
except ImportError:  # no compiler or libjpeg headers at install time: only --jpeg source
    to_baseline = None

__all__ = ["REENCODING", "check_image", "StoredImage", "store_image"]

REENCODING = to_baseline is not None  # --jpeg baseline is possible (the C extension is built)
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); they carry the image size.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment, without decoding; None if not found."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            position += 2
            continue
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return None


def _image_size(data: bytes, member: str) -> tuple[int, int] | None:
    if member == "jpg":
        return _jpeg_size(data)
    return struct.unpack(">II", data[16:24]) if data[12:16] == b"IHDR" else None


def check_image(data: bytes, sample: Union[Sample, SampleInfo], full_decode: bool) -> str:
    """'' if the bytes are a complete image of the annotated size, else the reason (for errors.parquet)."""
    if not data:
        return f"empty image file {sample.image_path}"
    if sample.image_member == "jpg":
        if not data.startswith(b"\xff\xd8"):
            return f"not a JPEG (no start-of-image marker): {sample.image_path}"
        if not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            return f"truncated JPEG (no end-of-image marker): {sample.image_path}"
    elif not data.startswith(b"\x89PNG\r\n\x1a\n") or b"IEND" not in data[-12:]:
        return f"truncated or invalid PNG: {sample.image_path}"
    size = _image_size(data, sample.image_member)
    if size is None:
        return f"undecodable image (no size in its header): {sample.image_path}"
    if size != (sample.width, sample.height):
        return (f"image is {size[0]}x{size[1]} px but the annotation says {sample.width}x{sample.height}: "
                f"{sample.image_path}")
    if full_decode:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except (OSError, SyntaxError, ValueError) as error:
            return f"undecodable image ({error}): {sample.image_path}"
    return ""


@dataclass(frozen=True)
class StoredImage:
    """The image member of one sample and where it came from (the manifest's image columns)."""

    data: bytes
    encoding: str        # baseline: the source re-encoded losslessly; source: the source's bytes
    reason: str          # why the source bytes were kept ('' when re-encoded)
    source_size: int
    source_sha256: str


def store_image(source: bytes, member: str, jpeg: str) -> StoredImage:
    """What the shard stores for an image file under `--jpeg` (baseline or source). A progressive JPEG is
    re-encoded as baseline (same DCT coefficients, optimized Huffman tables: identical decoded pixels); PNGs,
    sequential JPEGs and what the re-encoder refuses (arithmetic coding, CMYK, corrupt data) are kept."""
    source_sha256 = hashlib.sha256(source).hexdigest()
    if member != "jpg" or jpeg == "source":
        return StoredImage(source, "source", "--jpeg source" if member == "jpg" else member, len(source), source_sha256)
    if to_baseline is None:
        raise RuntimeError("--jpeg baseline needs the C extension interhand/preprocess/_jpeg_baseline.c")
    try:
        encoded, reason = to_baseline(source)
    except ValueError as error:  # libjpeg cannot read it; check_image let it through, so it is kept as it is
        encoded, reason = None, str(error)
    if encoded is None:
        return StoredImage(source, "source", reason, len(source), source_sha256)
    return StoredImage(encoded, "baseline", "", len(source), source_sha256)
