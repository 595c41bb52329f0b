"""The DALI pipeline: shards → decoded, warped, colour-augmented 256×256 patches, on the GPU or the CPU.

Reading (`fn.readers.webdataset` over the shards and their index files) and processing are separate
functions. The packed `.ann` record is read as a float tensor (no Python per sample); the affine map
of each sample is computed inside the graph from the record's box and the sample's augmentation
parameters, with the same closed form as `interhand.geometry.affine.window_to_patch_affines` (the parity tests
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
from interhand.shard_format.ann_codec import ANN_FLOATS, ANN_LAYOUT
from interhand.shard_format.names import ANN_MEMBER, IMAGE_MEMBERS

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


# Pixel conventions, why they matter here: the original (OpenCV) puts pixel i's centre at coordinate i; DALI puts it
# at i + ½ (pixel corners at integers), in the patch and in the image alike. A map M in the original's frame is
# M_corner(p) = M(p − ½) + ½ in DALI's. The geometry below is a handful of per-sample *vector* operators (2-vectors,
# 2×3 matrices, 4×2 corner sets): every DALI operator costs a scheduling pass over the batch, whatever its size,
# so the graph is kept to few of them (written one operator per scalar, it cost 22–33 ms a batch of 256 on 2 cores;
# bench/bench_dali_graph.py times the two).
_SHIFT_XY = slice(PARAM_SHIFT_X, PARAM_SHIFT_X + 2)
assert PARAM_SHIFT_Y == PARAM_SHIFT_X + 1, "the shift is read as one 2-vector"


def _ann_pair(ann, name: str, first: int = 0):
    """A 2-vector of the `.ann` record: floats `first` and `first + 1` of the field `name` (one slice operator)."""
    offset, _ = ANN_LAYOUT[name]
    return ann[offset + first:offset + first + 2]


def _crop_window(ann, params, box: str):
    """Each sample's source window, original-image px (pixel-centre frame): its centre (x, y) and size (w', h').

    As `interhand.loaders.augment.patch_window`: the box's centre moved by (shift_x·w, shift_y·h), its size × scale.
    """
    name = "bbox" if box == "gt" else "rootnet_bbox"  # (x_min, y_min, width, height)
    box_xy, box_wh = _ann_pair(ann, name, 0), _ann_pair(ann, name, 2)
    centre_xy = box_xy + box_wh * (params[_SHIFT_XY] + 0.5)
    return centre_xy, box_wh * params[PARAM_SCALE]


def _patch_to_image_matrix(ann, params, box: str, size: int):
    """Per-sample 2×3 map, patch px → unflipped image px, in DALI's pixel-corner convention, flip folded in.

    The closed form of the original's 3-point affine (geometry.affine.window_to_patch_affines), inverted: in the
    original's frame image = c + D·R(rot)·diag(w'/S, h'/S)·(patch − S/2), with D = diag(−1, 1) when flipped, else I.
    Why the flip is only D: the original mirrors the image (u → W − 1 − u) and the window's centre with it;
    mirroring the warped points back takes the centre home, so W cancels and only the linear part keeps the sign.
    In DALI's frame the patch centre S/2 sits at (S + 1)/2 and the image gains ½. Built as one chain of
    `fn.transforms` (each applies its map after its input's), pivoting about that centre.
    """
    from nvidia.dali import fn, types

    centre_xy, window_wh = _crop_window(ann, params, box)
    pivot = (size + 1) / 2.0
    # D/S in one vector: the flip's sign on x (the flip parameter is 0 or 1) and 1/S (patch px → window fractions);
    # both are diagonal, so they commute with the window's scale and may come after the rotation.
    mirror_per_side = 1.0 / size - params[PARAM_FLIP] * types.Constant(np.array([2.0 / size, 0.0], np.float32))
    matrix = fn.transforms.scale(scale=window_wh, center=[pivot, pivot])
    matrix = fn.transforms.rotation(matrix, angle=params[PARAM_ROT_DEG], center=[pivot, pivot])  # degrees
    matrix = fn.transforms.scale(matrix, scale=mirror_per_side, center=[pivot, pivot])
    # the pivot goes to the window's centre, + ½ into DALI's image frame
    return fn.transforms.translation(matrix, offset=centre_xy + (0.5 - pivot))


def _roi(matrix, ann, size: int):
    """The image region the warp samples, (x, y) start and (w, h) extent, px: the bounding box of the patch's
    outer corners warped to the image, 2 px of margin (bilinear reads a neighbour; rounding), clipped to the image
    and at least 1 px wide."""
    import nvidia.dali.math as dmath
    from nvidia.dali import fn, types

    corners = types.Constant(np.array([[0.0, 0.0], [size, 0.0], [0.0, size], [size, size]], np.float32))
    image_corners = fn.coord_transform(corners, MT=matrix)  # (4, 2) per sample
    image_wh = _ann_pair(ann, "image_size_px")
    start = dmath.clamp(dmath.floor(fn.reductions.min(image_corners, axes=0)) - 2.0, 0.0, image_wh - 1.0)
    # The end is clamped to [1, W], not [start + 1, W] as the clamped start would suggest, and that is the same:
    # unclamped, end ≥ start + 4 (two margins, max ≥ min), so where start stays both lower bounds lie below end,
    # where start is raised to 0 the bounds are equal, and where it is lowered to W − 1, end > W gives W. One
    # operator fewer.
    end = dmath.clamp(dmath.ceil(fn.reductions.max(image_corners, axes=0)) + 2.0, 1.0, image_wh)
    return start, end - start


def _crop_geometry(ann, params, box: str, size: int, roi_decode: bool):
    """(2×3 map patch px → decoded px, DALI's frame; ROI start (x, y); ROI extent (w, h)) per sample.

    With `roi_decode` the decoder returns only the ROI, whose pixel (0, 0) is the image's `start`: the map's
    output moves by −start. Without it the ROI is (None, None) and the map reads the whole frame.
    """
    from nvidia.dali import fn

    matrix = _patch_to_image_matrix(ann, params, box, size)
    if not roi_decode:
        return matrix, None, None
    start, extent = _roi(matrix, ann, size)
    return fn.transforms.translation(matrix, offset=-start), start, extent


_FROM_SPEC = object()


def build_pipeline(spec: DaliPipelineSpec, params_source: Optional[Callable[[], list]] = None,
                   device_id=_FROM_SPEC, crop_geometry: Callable = _crop_geometry):
    """The DALI pipeline for `spec`; outputs (patch HWC uint8, ann float, params float[, source info]).

    Args:
        spec: the pipeline's inputs and mode.
        params_source: batch callable returning a list of `batch_size` (8,) float32 parameter arrays
            (training: `interhand.loaders.dali_loader.CounterParamsSource`; parity tests: fixed). None: no
            augmentation.
        device_id: override of the CUDA device; None defines a GPU graph without a driver, which can be
            serialized but not run (the static check CPU-only machines can make).
        crop_geometry: the graph's per-sample map and ROI (`_crop_geometry`'s signature); bench/bench_dali_graph.py
            passes the scalar form it replaced, to time the two in the same pipeline.
    """
    from nvidia.dali import fn, pipeline_def, types

    if device_id is _FROM_SPEC:
        device_id = spec.gpu_index if spec.device == "gpu" else None
    decode_device = "mixed" if spec.device == "gpu" else "cpu"
    # jpeg_fancy_upsampling: nvJPEG's default chroma upsampling differs from libjpeg-turbo's "fancy" one, which
    # the original (OpenCV), the reference loader and DALI's CPU decoder use; asked for, the GPU decodes as they do.
    hardware = ({"hw_decoder_load": spec.hw_decoder_load, "jpeg_fancy_upsampling": True}
                if decode_device == "mixed" else {})

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
        size = spec.geometry.input_size
        matrix, start, extent = crop_geometry(ann, params, spec.box, size, spec.roi_decode)
        if spec.roi_decode:
            # The original reads with OpenCV and ignores EXIF orientation (IMREAD_IGNORE_ORIENTATION).
            image = fn.decoders.image_slice(jpeg, start, extent, axis_names="WH", normalized_anchor=False,
                                            normalized_shape=False, device=decode_device, output_type=types.RGB,
                                            adjust_orientation=False, **hardware)
        else:
            image = fn.decoders.image(jpeg, device=decode_device, output_type=types.RGB, adjust_orientation=False,
                                      **hardware)
        # matrix maps destination (patch) → source (image), pixel corners: inverse_map stays True.
        # fill_value=0: the original pads with black (OpenCV BORDER_CONSTANT); DALI would clamp otherwise.
        patch = fn.warp_affine(image, matrix=matrix, size=[size, size], fill_value=0.0,
                               interp_type=types.INTERP_LINEAR, inverse_map=True)
        outputs = [patch, ann, params]
        if spec.with_keys:  # DALIGenericIterator needs dense outputs: pad the strings to the batch's longest
            outputs.append(fn.pad(fn.get_property(jpeg, key="source_info"), fill_value=0))
        return tuple(outputs)

    return pipeline()
