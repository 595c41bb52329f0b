"""The DALI pipeline: shards → decoded, warped, colour-augmented 256×256 patches, on the GPU or the CPU.

Reading (`fn.readers.webdataset` over the shards and their index files) and processing are separate
functions. The packed `.ann` record is read as a float tensor (no Python per sample); the affine map
of each sample is computed inside the graph from the record's box and the sample's augmentation
parameters, with the same closed form as `interhand.geometry.affine.patch_affines` (the parity tests
hold the two together). With `device="gpu"` the JPEG is decoded by nvJPEG (`mixed`), only the region
the crop needs (ROI decoding), and the warp runs on the GPU (the colour factors are applied to the
batch while it is normalised, `interhand.loaders.batch.images_to_float`); with `device="cpu"`
(`device_id=None`) the same graph runs on the CPU: that is the twin the tests run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.loaders.augment import (
    IDENTITY,
    PARAM_FLIP,
    PARAM_ROT_DEG,
    PARAM_SCALE,
    PARAM_SHIFT_X,
    PARAM_SHIFT_Y,
    PARAMS_LENGTH,
    params_to_array,
)
from interhand.shard_format import ANN_FLOATS, ANN_LAYOUT, ANN_MEMBER, IMAGE_MEMBERS

__all__ = ["DaliPipelineSpec", "build_pipeline", "READER_NAME", "cuda_device_count"]

READER_NAME = "Reader"


def cuda_device_count() -> int:
    """GPUs DALI can use (0 without a driver); the run-time switch between the GPU and CPU graphs."""
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        return int(GetCUDADeviceCount())
    except Exception:  # no driver, no CUDA runtime: a CPU-only machine
        return 0


@dataclass(frozen=True)
class DaliPipelineSpec:
    """Everything the graph depends on (paths, sharding, mode); built by `interhand.loaders.build`."""

    shard_paths: tuple[str, ...]
    index_paths: tuple[str, ...]
    batch_size: int
    num_threads: int
    device: str  # "cpu" or "gpu"
    shard_id: int = 0
    num_shards: int = 1
    shuffle: bool = False
    initial_fill: int = 512
    seed: int = 0
    box: str = "gt"  # "gt": the record's processed GT box; "rootnet": RootNet's box
    roi_decode: bool = True
    geometry: HeatmapGeometry = ORIGINAL_GEOMETRY  # patch size and target encoding
    with_keys: bool = False  # also output each sample's source info (tar:offset:member), for evaluation
    gpu_index: int = 0  # the CUDA device of this rank (torchrun's LOCAL_RANK within CUDA_VISIBLE_DEVICES)
    # `mixed` decoding: the share of each batch's JPEGs sent to the GPU's hardware JPEG decoder (A100, H100,
    # H200); the rest goes to nvJPEG's CUDA path, whose Huffman stage runs on the host's CPU threads. The
    # hardware takes baseline JPEGs only: shards written with `--jpeg baseline` (the default) are, so 0.9
    # rather than DALI's 0.65 keeps the host threads free for the reader; progressive (`--jpeg source`)
    # shards fall back to the CUDA path whatever this says.
    hw_decoder_load: float = 0.9


def _field(ann, name: str, index: int = 0):
    offset, _ = ANN_LAYOUT[name]
    return ann[offset + index]


def _patch_to_image_matrix(ann, params, box: str, size: int):
    """Per-sample 2×3 map, patch px → unflipped image px, in DALI's pixel-corner convention.

    Closed form of the original's 3-point affine (interhand.geometry.affine.patch_affines), inverted:
    image = c + R(rot)·diag(w'/S, h'/S)·(patch − S/2), then the flip u → W − 1 − u, then the shift of
    both frames by half a pixel (DALI samples pixel centres at +0.5).
    """
    import nvidia.dali.math as dmath

    bbox_name = "bbox" if box == "gt" else "rootnet_bbox"
    x_min, y_min, width, height = (_field(ann, bbox_name, i) for i in range(4))
    image_width = _field(ann, "image_size_px", 0)
    shift_x, shift_y, scale, rot_deg, flip = (params[column] for column in (PARAM_SHIFT_X, PARAM_SHIFT_Y, PARAM_SCALE,
                                                                            PARAM_ROT_DEG, PARAM_FLIP))
    centre_x = x_min + width * (shift_x + 0.5)
    centre_y = y_min + height * (shift_y + 0.5)
    sign = 1.0 - 2.0 * flip  # +1, or −1 when flipped
    centre_x = centre_x * sign + flip * (image_width - 1.0)
    radians = rot_deg * (np.pi / 180.0)
    cos, sin = dmath.cos(radians), dmath.sin(radians)
    step_x, step_y = width * scale / size, height * scale / size
    a00, a01 = cos * step_x, -sin * step_y
    a10, a11 = sin * step_x, cos * step_y
    half = size / 2.0
    t0 = centre_x - half * (a00 + a01)
    t1 = centre_y - half * (a10 + a11)
    # fold the flip (u_unflipped = W − 1 − u_flipped) into the first row
    a00, a01, t0 = a00 * sign, a01 * sign, t0 * sign + flip * (image_width - 1.0)
    # centre → corner convention: M_corner(p) = M(p − ½) + ½
    t0 = t0 + 0.5 - 0.5 * (a00 + a01)
    t1 = t1 + 0.5 - 0.5 * (a10 + a11)
    return a00, a01, t0, a10, a11, t1


def _roi(matrix, ann, size: int):
    """The image region the warp samples: the window's bounding box, 2 px of margin, clipped to the image."""
    import nvidia.dali.math as dmath

    a00, a01, t0, a10, a11, t1 = matrix
    corners = [(0.0, 0.0), (size, 0.0), (0.0, size), (size, size)]
    xs = [a00 * px + a01 * py + t0 for px, py in corners]
    ys = [a10 * px + a11 * py + t1 for px, py in corners]
    width, height = _field(ann, "image_size_px", 0), _field(ann, "image_size_px", 1)

    def bounds(values, limit):
        low = dmath.min(dmath.min(values[0], values[1]), dmath.min(values[2], values[3]))
        high = dmath.max(dmath.max(values[0], values[1]), dmath.max(values[2], values[3]))
        start = dmath.clamp(dmath.floor(low) - 2.0, 0.0, limit - 1.0)
        end = dmath.clamp(dmath.ceil(high) + 2.0, start + 1.0, limit)
        return start, end - start

    x0, roi_w = bounds(xs, width)
    y0, roi_h = bounds(ys, height)
    return x0, y0, roi_w, roi_h


_FROM_SPEC = object()


def build_pipeline(spec: DaliPipelineSpec, params_source: Optional[Callable[[], list]] = None,
                   device_id=_FROM_SPEC):
    """The DALI pipeline for `spec`; outputs (patch HWC uint8, ann float, params float[, source info]).

    Args:
        spec: the pipeline's inputs and mode.
        params_source: batch callable returning a list of `batch_size` (8,) float32 parameter arrays
            (training: `interhand.loaders.dali_loader.CounterParamsSource`; parity tests: fixed). None: no
            augmentation.
        device_id: override of the CUDA device; None defines a GPU graph without a driver, which can be
            serialized but not run (the static check CPU-only machines can make).
    """
    from nvidia.dali import fn, pipeline_def, types

    if device_id is _FROM_SPEC:
        device_id = spec.gpu_index if spec.device == "gpu" else None
    decode_device = "mixed" if spec.device == "gpu" else "cpu"
    hardware = {"hw_decoder_load": spec.hw_decoder_load} if decode_device == "mixed" else {}

    @pipeline_def(batch_size=spec.batch_size, num_threads=spec.num_threads, device_id=device_id, seed=spec.seed,
                  prefetch_queue_depth=2)
    def pipeline():
        jpeg, ann = fn.readers.webdataset(
            paths=list(spec.shard_paths), index_paths=list(spec.index_paths),
            ext=[";".join(IMAGE_MEMBERS), ANN_MEMBER], dtypes=[types.UINT8, types.FLOAT],
            # the default ("empty") would silently yield empty tensors for a sample missing a member
            missing_component_behavior="error",
            shard_id=spec.shard_id, num_shards=spec.num_shards, random_shuffle=spec.shuffle,
            initial_fill=spec.initial_fill, seed=spec.seed, pad_last_batch=True, name=READER_NAME)
        ann = fn.reshape(ann, shape=[ANN_FLOATS])
        if params_source is None:
            identity = params_to_array(IDENTITY)
            params = fn.constant(fdata=identity.tolist(), shape=[PARAMS_LENGTH], dtype=types.FLOAT)
        else:
            params = fn.external_source(source=params_source, batch=True, dtype=types.FLOAT, ndim=1,
                                        name="AugmentParams")
        matrix = _patch_to_image_matrix(ann, params, spec.box, spec.geometry.input_size)
        if spec.roi_decode:
            x0, y0, roi_w, roi_h = _roi(matrix, ann, spec.geometry.input_size)
            # The original reads with OpenCV and ignores EXIF orientation (IMREAD_IGNORE_ORIENTATION).
            image = fn.decoders.image_slice(jpeg, fn.stack(x0, y0), fn.stack(roi_w, roi_h), axis_names="WH",
                                            normalized_anchor=False, normalized_shape=False, device=decode_device,
                                            output_type=types.RGB, adjust_orientation=False, **hardware)
            a00, a01, t0, a10, a11, t1 = matrix
            matrix = (a00, a01, t0 - x0, a10, a11, t1 - y0)
        else:
            image = fn.decoders.image(jpeg, device=decode_device, output_type=types.RGB, adjust_orientation=False,
                                      **hardware)
        matrix = fn.reshape(fn.stack(*matrix), shape=[2, 3])
        # matrix maps destination (patch) → source (image), pixel corners: inverse_map stays True.
        # fill_value=0: the original pads with black (OpenCV BORDER_CONSTANT); DALI would clamp otherwise.
        patch = fn.warp_affine(image, matrix=matrix, size=[spec.geometry.input_size, spec.geometry.input_size], fill_value=0.0,
                               interp_type=types.INTERP_LINEAR, inverse_map=True)
        outputs = [patch, ann, params]
        if spec.with_keys:  # DALIGenericIterator needs dense outputs: pad the strings to the batch's longest
            outputs.append(fn.pad(fn.get_property(jpeg, key="source_info"), fill_value=0))
        return tuple(outputs)

    return pipeline()
