"""DALI's GPU graph against its CPU twin (skipped without CUDA).

The GPU graph (nvJPEG `mixed` decode, GPU warp) and the CPU graph (libjpeg-turbo, CPU warp), which
tests/loaders/test_loaders.py holds to the reference loader, read the same shards with the same augmentation
parameters; for every kind of image the shards hold (baseline JPEG, progressive JPEG, PNG), both decode modes (ROI,
whole frame) and both crop boxes (GT, RootNet), over several shards a case. The image tolerances are provisional: no
GPU has run these yet. Every case writes what it measured to the JSON file named by INTERHAND_GPU_PARITY_JSON (when
set) and shows it in its assertion messages, so the first GPU run gives the figures to tighten them with.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from interhand.loaders.build import check_box_source
from interhand.loaders.shard_list import shard_list
from interhand.shard_format.names import IMAGE_MEMBERS

from helpers import compare_batches, fixed_params_dali_loader, params_table

pytestmark = pytest.mark.gpu
PARITY_JSON_ENV = "INTERHAND_GPU_PARITY_JSON"
# Divides none of the splits' sizes (48, 6, 9): every case ends on a partial batch (the reader pads it, the loader
# drops the padding).
PARITY_BATCH_SIZE = 5


@dataclass(frozen=True)
class ImageTolerance:
    """Bounds on |GPU − CPU| over every uint8 value of a case's patches: mean and maximum, grey levels."""

    mean_abs: float
    max_abs: float


# Provisional, to be tightened with the first GPU run's figures (INTERHAND_GPU_PARITY_JSON).
# JPEG: DALI's own test of `jpeg_fancy_upsampling` (dali/test/python/decoder/test_image.py, test_fancy_upsampling)
# holds the mixed decoder to the CPU one at a mean absolute error of 1 per image; the warp averages neighbours and
# cannot raise a mean. The maximum: two IDCTs that meet the JPEG accuracy bound (IEEE 1180: ≤ 1 from the exact
# transform) differ by ≤ 2 in Y; Cb/Cr by ≤ 2 + 1 where the chroma upsampling rounds differently; B = Y + 1.772·Cb
# turns that into ≤ 7.3, + 1 for the colour conversion's rounding and + 1 for the warp's: 10; 12 leaves a little room.
# A geometry or ROI mistake moves edges by whole pixels: differences of tens to 255 along every edge.
JPEG_TOLERANCE = ImageTolerance(mean_abs=1.0, max_abs=12.0)
# PNG: lossless, the same pixels on both sides; DALI's CPU and GPU warps share their sampler and coordinate mapping
# (dali/kernels/imgproc/sampler.h, warp/map_coords.h), so only float rounding (the GPU's fused multiply-adds) can
# move a value across a rounding boundary: at most 1 level, in few places.
PNG_TOLERANCE = ImageTolerance(mean_abs=0.05, max_abs=1.0)


@dataclass(frozen=True)
class ImageSource:
    """A split whose shards hold one kind of image: the fixture that makes them, the split, what the images are."""

    fixture: str
    split: str
    image_format: str  # "baseline-jpeg", "progressive-jpeg" or "png"

    @property
    def tolerance(self) -> ImageTolerance:
        return PNG_TOLERANCE if self.image_format == "png" else JPEG_TOLERANCE


# Test splits: each has RootNet outputs for every sample (the RootNet box cases) and 2 to 5 shards. The synthetic
# RootNet box is the GT box through process_bbox, bit for bit, so a RootNet case crops the pixels its GT case
# crops: it proves that the GPU graph reads the other box, not a different crop geometry.
IMAGE_SOURCES = {
    "ih26m-baseline-jpeg": ImageSource("synth_ih26m_shards", "test", "baseline-jpeg"),
    "ih26m-progressive-jpeg": ImageSource("synth_ih26m_progressive_shards", "test", "progressive-jpeg"),
    "stb-png": ImageSource("synth_stb_shards", "test", "png"),
    "rhd-png": ImageSource("synth_rhd_shards", "test", "png"),
}


def _first_image_format(tar_path: str) -> str:
    """What the shard's first image member is: "baseline-jpeg", "progressive-jpeg" or "png" (Pillow reads the
    header): a case must read the kind of image it is named after."""
    from PIL import Image

    suffixes = tuple(f".{member}" for member in IMAGE_MEMBERS)
    with tarfile.open(tar_path) as tar:
        member = next(item for item in tar.getmembers() if item.name.endswith(suffixes))
        with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
            if image.format == "PNG":
                return "png"
            return "progressive-jpeg" if image.info.get("progressive") else "baseline-jpeg"


def _on_the_gpu(loader):
    """The loader's batches, each checked to hold its patches on GPU 0 (DALI's buffer, no host copy)."""
    for batch in loader:
        assert batch.image.device == torch.device("cuda", 0), batch.image.device
        yield batch


def _image_figures(difference: torch.Tensor) -> dict:
    """What a case measured from the absolute differences of its image values: mean, maximum, the fraction that
    differ, and a histogram of the nonzero differences ({level: values})."""
    counts = torch.bincount(difference.to(torch.int64)).tolist()
    return {"values": difference.numel(), "mean_abs": float(difference.mean()), "max_abs": float(difference.max()),
            "differing_fraction": float((difference > 0).float().mean()),
            "abs_histogram": {str(level): count for level, count in enumerate(counts) if level and count}}


def _environment() -> dict:
    """The versions and device the figures were measured with."""
    import nvidia.dali
    from nvidia.dali.backend import GetNvjpegVersion

    return {"device": torch.cuda.get_device_name(0), "dali": nvidia.dali.__version__, "nvjpeg": GetNvjpegVersion(),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def _record_case(case: str, figures: dict) -> None:
    """Merge one case's figures into the JSON file named by INTERHAND_GPU_PARITY_JSON (nothing when unset):
    {"environment": {...}, "cases": {case: figures}}, rewritten whole (atomically) after every case."""
    path = os.environ.get(PARITY_JSON_ENV)
    if not path:
        return
    path = Path(path)
    records = json.loads(path.read_text()) if path.is_file() else {"cases": {}}
    records["environment"] = _environment()
    records["cases"][case] = figures
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


@pytest.mark.parametrize("box", ["gt", "rootnet"])
@pytest.mark.parametrize("roi_decode", [True, False], ids=["roi", "whole-frame"])
@pytest.mark.parametrize("source", list(IMAGE_SOURCES))
def test_dali_gpu_batches_match_the_cpu_twin(request, source, roi_decode, box):
    """Same samples in the same order, same targets, masks and parameters (1e-4: the same host code reads the same
    `.ann` records), patches on the GPU, images within the source's tolerance."""
    image_source = IMAGE_SOURCES[source]
    split_dir = request.getfixturevalue(image_source.fixture) / image_source.split
    check_box_source(split_dir, box)  # one clear error, not a skip, if the split lost its RootNet boxes
    shards = shard_list(split_dir)
    assert len(shards.paths) >= 2, f"{split_dir}: one shard; a case must cross from one tar to the next"
    assert _first_image_format(shards.paths[0]) == image_source.image_format
    table = params_table(shards.total, seed=11)
    options = {"box": box, "roi_decode": roi_decode}
    gpu = fixed_params_dali_loader(shards, table, PARITY_BATCH_SIZE, "gpu", **options)
    cpu = fixed_params_dali_loader(shards, table, PARITY_BATCH_SIZE, "cpu", **options)
    seen, difference = compare_batches(_on_the_gpu(gpu), cpu)
    assert seen == shards.total
    case = f"{source}/{'roi' if roi_decode else 'whole-frame'}/{box}"
    tolerance = image_source.tolerance
    figures = {**_image_figures(difference), "samples": seen, "shards": len(shards.paths),
               "tolerance": {"mean_abs": tolerance.mean_abs, "max_abs": tolerance.max_abs}}
    _record_case(case, figures)
    measured = f"{case}: {json.dumps(figures)}"
    assert figures["mean_abs"] <= tolerance.mean_abs, measured
    assert figures["max_abs"] <= tolerance.max_abs, measured
