"""Image decoding for the CPU loader: whole frames, or only the window of a frame that a patch warp reads.

The hand box is a fraction of the frame, so the CPU loader decodes the rows and iMCU columns under the
patch's source window (`decode_and_warp`), through a small libjpeg-turbo extension
(`interhand/loaders/_jpeg_region.c`, built by `pip install` where a compiler and the libjpeg headers are
present). Its pixels equal a full decode's; the warp of the window differs from the warp of the whole frame
by OpenCV's float rounding of the source coordinates only (a few pixels by 1 grey level). The window is
decoded as RGBX and warped with four channels, then packed to RGB: OpenCV's bilinear warp works on each
channel alike, so the RGB values are those of a three-channel warp bit for bit, and its four-channel kernel
and the pack to RGB take about two thirds of the three-channel warp's time here (`bench/bench_loader.py
--profile`). Without the extension, and for PNG sources, the whole frame is decoded with OpenCV.
"""

from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

from interhand.loaders.augment import warp_patch

try:
    from interhand.loaders._jpeg_region import decode_region as _decode_region
except ImportError:  # no compiler or libjpeg headers at install time: whole-frame decoding
    _decode_region = None

__all__ = ["REGION_DECODING", "decode_image", "source_window", "decode_and_warp"]

REGION_DECODING = _decode_region is not None
_JPEG_MAGIC = b"\xff\xd8"


def decode_image(data: bytes, where: str) -> np.ndarray:
    """JPEG/PNG bytes → (H, W, 3) uint8 RGB, EXIF orientation ignored (the original's cv2.imread flags).

    OpenCV's libjpeg-turbo decodes the progressive InterHand2.6M JPEGs 1.8× faster here than Pillow-SIMD.
    """
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ValueError(f"{where}: not a decodable image")
    return image


def source_window(img_to_patch: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """[x0, x1) × [y0, y1) of the source pixels a bilinear warp of the size×size patch can read.

    The patch's pixel centres map to a parallelogram whose extremes are its corners; bilinear reads the
    two neighbours of each, and one more pixel each side covers OpenCV's fixed-point coordinate rounding.
    """
    inverse = cv2.invertAffineTransform(np.asarray(img_to_patch, dtype=np.float64))
    corners = np.array([[0.0, 0.0, 1.0], [size - 1.0, 0.0, 1.0], [0.0, size - 1.0, 1.0], [size - 1.0, size - 1.0, 1.0]])
    source = corners @ inverse.T
    low, high = source.min(0), source.max(0)
    return (math.floor(low[0]) - 1, math.floor(low[1]) - 1, math.floor(high[0]) + 3, math.floor(high[1]) + 3)


def decode_and_warp(data: bytes, where: str, img_to_patch: np.ndarray, size: int,
                    frame_size: Optional[tuple[int, int]] = None, region: bool = True,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
    """The size×size uint8 RGB patch of an encoded image under `img_to_patch` (frame px → patch px).

    JPEGs are decoded only under the patch's source window when the extension is built and `region` is
    True. `frame_size` (width, height), when given, is checked against the decoded frame. `out`, a C-contiguous
    (size, size, 3) uint8 array (a batch's row), receives the patch and is returned.
    """
    if region and REGION_DECODING and data[:2] == _JPEG_MAGIC:
        x0, y0, x1, y1 = source_window(img_to_patch, size)
        # One more column each side: the decoder's crop edge columns may differ from a full decode (fancy
        # upsampling lacks its neighbour there); those columns are decoded but never read by the warp.
        try:
            pixels, left, top, width, height, frame_w, frame_h = _decode_region(data, x0 - 1, y0, x1 + 1, y1, 4)
        except ValueError:  # e.g. CMYK, which OpenCV converts: decode the whole frame below (or fail there)
            pixels = None
        if pixels is not None:
            _check_frame(where, (frame_w, frame_h), frame_size)
            out = np.empty((size, size, 3), np.uint8) if out is None else out
            if x1 <= 0 or y1 <= 0 or x0 >= frame_w or y0 >= frame_h:  # the patch misses the frame: all black
                out[...] = 0
                return out
            window_rgbx = np.frombuffer(pixels, np.uint8).reshape(height, width, 4)
            shifted = np.asarray(img_to_patch, dtype=np.float64).copy()
            shifted[:, 2] += shifted[:, :2] @ np.array([left, top], dtype=np.float64)
            return cv2.cvtColor(warp_patch(window_rgbx, shifted, size), cv2.COLOR_RGBA2RGB, dst=out)
    image = decode_image(data, where)
    _check_frame(where, (image.shape[1], image.shape[0]), frame_size)
    patch = warp_patch(image, img_to_patch, size)
    if out is None:
        return patch
    out[...] = patch
    return out


def _check_frame(where: str, found: tuple[int, int], expected: Optional[tuple[int, int]]) -> None:
    if expected is not None and (int(expected[0]), int(expected[1])) != (int(found[0]), int(found[1])):
        raise ValueError(f"{where}: the image is {found[0]}×{found[1]} px but its record says "
                         f"{int(expected[0])}×{int(expected[1])}")
