"""Benchmark: the DALI graph's per-sample crop geometry, before (scalar operators) and after (vector operators).

`interhand.loaders.dali_pipeline` computes each sample's 2×3 warp map (patch px → image px) and its decode ROI
inside the graph, from the `.ann` record's box and the sample's augmentation parameters. Before (up to commit
2a9ed14) that was written with one DALI operator per scalar (`a * b` on DataNodes is an arithmetic operator,
scheduled over the whole batch, whatever its size); after, with a few vector operators (`fn.transforms.*`,
`fn.coord_transform`, `fn.reductions`, broadcasting arithmetic). The "before" code is kept below as the baseline,
as it was but for its names (`_before_*`) and labels. On the CPU (`device_id=None`, the GPU pipeline's twin),
batch 256, the same parameters (the training distribution, `draw_augment_params_array`) every batch,
interleaved rounds of:
  (0) the reader alone: the `.ann` record read and reshaped, the parameters fed (what (1) and (2) add to);
  (1) (0) + the geometry before; (2) (0) + the geometry after: maps and ROIs, no decode;
  (3) the whole pipeline (reader, ROI decode, warp) with the geometry before; (4) the same with it after.
The geometry alone is (1) or (2) minus (0) of the same round. Each contender is built afresh in each round and
torn down after its timing, so the batches it prefetches are not computed while the next one is timed; every
other round runs them in reverse order. Wall and CPU ms per batch (this process: DALI's threads are its own) are
the medians of the rounds; a before / after ratio is taken within each round, then its median.
Operators are counted twice: as defined (the serialized pipeline) and as run (the built graph, after DALI's
common-subexpression elimination). Before timing, (1) and (2) run on the same batch and must agree: the same
ROI, and maps within 1e-3 px.

Usage: python bench/bench_dali_graph.py [--frames 64] [--batch-size 256] [--threads 2] [--rounds 7]
       [--batches 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from interhand.config import PreprocessConfig, SynthConfig
from interhand.loaders.augment import (
    PARAM_FLIP,
    PARAM_ROT_DEG,
    PARAM_SCALE,
    PARAM_SHIFT_X,
    PARAM_SHIFT_Y,
    draw_augment_params_array,
)
from interhand.loaders.dali_pipeline import DaliPipelineSpec, _crop_geometry, build_pipeline
from interhand.loaders.shard_list import ShardList, shard_list
from interhand.preprocess.run import run as shards_run
from interhand.shard_format.ann_codec import ANN_FLOATS, ANN_LAYOUT
from interhand.shard_format.names import ANN_MEMBER, DATASET_FILE, split_dir
from interhand.synth.run import run as synth_run

from common import machine_description

MAP_TOLERANCE_PX = 1e-3  # float32 rounding of two orders of the same sums: measured ~1e-4 px


# ---- before: the scalar geometry as interhand/loaders/dali_pipeline.py had it (commit 2a9ed14), verbatim ----

def _before_field(ann, name: str, index: int = 0):
    offset, _ = ANN_LAYOUT[name]
    return ann[offset + index]


def _before_patch_to_image_matrix(ann, params, box: str, size: int):
    """BEFORE. Per-sample 2×3 map, patch px → unflipped image px, in DALI's pixel-corner convention.

    Closed form of the original's 3-point affine (interhand.geometry.affine.window_to_patch_affines), inverted:
    image = c + R(rot)·diag(w'/S, h'/S)·(patch − S/2), then the flip u → W − 1 − u, then the shift of
    both frames by half a pixel (DALI samples pixel centres at +0.5).
    """
    import nvidia.dali.math as dmath

    bbox_name = "bbox" if box == "gt" else "rootnet_bbox"
    x_min, y_min, width, height = (_before_field(ann, bbox_name, i) for i in range(4))
    image_width = _before_field(ann, "image_size_px", 0)
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


def _before_roi(matrix, ann, size: int):
    """BEFORE. The image region the warp samples: the window's bounding box, 2 px of margin, clipped to the image."""
    import nvidia.dali.math as dmath

    a00, a01, t0, a10, a11, t1 = matrix
    corners = [(0.0, 0.0), (size, 0.0), (0.0, size), (size, size)]
    xs = [a00 * px + a01 * py + t0 for px, py in corners]
    ys = [a10 * px + a11 * py + t1 for px, py in corners]
    width, height = _before_field(ann, "image_size_px", 0), _before_field(ann, "image_size_px", 1)

    def bounds(values, limit):
        low = dmath.min(dmath.min(values[0], values[1]), dmath.min(values[2], values[3]))
        high = dmath.max(dmath.max(values[0], values[1]), dmath.max(values[2], values[3]))
        start = dmath.clamp(dmath.floor(low) - 2.0, 0.0, limit - 1.0)
        end = dmath.clamp(dmath.ceil(high) + 2.0, start + 1.0, limit)
        return start, end - start

    x0, roi_w = bounds(xs, width)
    y0, roi_h = bounds(ys, height)
    return x0, y0, roi_w, roi_h


def before_crop_geometry(ann, params, box: str, size: int, roi_decode: bool):
    """BEFORE, in `dali_pipeline._crop_geometry`'s signature: the old `build_pipeline`'s own glue (the ROI shift of
    the map, the stacks and the reshape) included, so the whole "before" pipeline is the old graph operator for
    operator."""
    from nvidia.dali import fn

    matrix = _before_patch_to_image_matrix(ann, params, box, size)
    start = extent = None
    if roi_decode:
        x0, y0, roi_w, roi_h = _before_roi(matrix, ann, size)
        start, extent = fn.stack(x0, y0), fn.stack(roi_w, roi_h)
        a00, a01, t0, a10, a11, t1 = matrix
        matrix = (a00, a01, t0 - x0, a10, a11, t1 - y0)
    return fn.reshape(fn.stack(*matrix), shape=[2, 3]), start, extent


# after: the pipeline's own vector geometry, the one `build_pipeline` uses by default
GEOMETRIES = {"before": before_crop_geometry, "after": _crop_geometry}


# ---- counting operators ----

def _protobuf_fields(data: bytes):
    """(field number, value) of each field of one protobuf message; length-delimited values as bytes."""
    def varint(position: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[position]
            value, shift, position = value | (byte & 0x7F) << shift, shift + 7, position + 1
            if byte < 0x80:
                return value, position

    position = 0
    while position < len(data):
        key, position = varint(position)
        wire_type = key & 7
        if wire_type == 0:
            value, position = varint(position)
        elif wire_type == 2:
            length, position = varint(position)
            value, position = data[position:position + length], position + length
        else:  # fixed 64 / 32 bits: not in the fields read here, only skipped
            width = 8 if wire_type == 1 else 4
            value, position = data[position:position + width], position + width
        yield key >> 3, value


def defined_operators(pipe) -> Counter:
    """Operators of the pipeline as defined, by schema name, from `serialize()`: DALI's `PipelineDef` message holds
    each operator as an `OpDef` in field 5, whose field 1 is the schema name (read from the wire format, so no
    protobuf package or .proto file is needed)."""
    return Counter(next(value for number, value in _protobuf_fields(op) if number == 1).decode()
                   for number, op in _protobuf_fields(pipe.serialize()) if number == 5)


def run_operators(pipe, folder: Path) -> Counter:
    """Operators of the built graph, by kind: the nodes of `save_graph_to_dot_file` (after DALI's common-subexpression
    elimination merged duplicates), less the MakeContiguous copies DALI adds at the outputs."""
    path = folder / "graph.dot"
    pipe.save_graph_to_dot_file(str(path))
    nodes = set()
    for line in path.read_text().splitlines():
        if "->" in line:
            nodes.update(part.strip(" ;") for part in line.split("->"))
    return Counter(node.strip("_").rsplit("_", 1)[0] for node in nodes if "MakeContiguous" not in node)


# ---- the contenders ----

def reader_and_geometry(shards: ShardList, geometry, params: list[np.ndarray], threads: int):
    """(0), (1), (2): the `.ann` reader and the parameters, then `geometry` (None: the reader alone)."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=len(params), num_threads=threads, device_id=None, prefetch_queue_depth=2)
    def pipeline():
        ann = fn.readers.webdataset(paths=list(shards.paths), index_paths=list(shards.index_paths), ext=[ANN_MEMBER],
                                    dtypes=[types.FLOAT], missing_component_behavior="error")
        ann = fn.reshape(ann, shape=[ANN_FLOATS])
        batch_params = fn.external_source(source=lambda: params, batch=True, dtype=types.FLOAT, ndim=1)
        if geometry is None:
            return ann, batch_params
        return geometry(ann, batch_params, "gt", 256, True)

    return pipeline()


def whole_pipeline(shards: ShardList, geometry, params: list[np.ndarray], threads: int):
    """(3), (4): `build_pipeline` on the CPU with `geometry` as its crop geometry."""
    spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=len(params), num_threads=threads,
                            device="cpu")
    return build_pipeline(spec, lambda: params, crop_geometry=geometry)


def _built(make):
    pipe = make()
    pipe.build()
    return pipe


def _cpu_seconds() -> float:
    """User + system CPU time of this process: DALI's worker threads are its own."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ms_per_batch(make, warmup: int, batches: int) -> tuple[float, float]:
    """Wall and CPU ms per batch of a freshly built pipeline after `warmup` batches; it is torn down after. On a
    machine shared with other jobs the wall time moves with their load; the CPU time much less."""
    pipe = _built(make)
    for _ in range(warmup):
        pipe.run()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    for _ in range(batches):
        pipe.run()
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    del pipe  # waits for its prefetched batches, outside the timing
    return elapsed / batches * 1e3, cpu / batches * 1e3


def agreement(shards: ShardList, params: list[np.ndarray], threads: int) -> dict:
    """(1) against (2) on the same batch: largest map difference (px) and the samples whose ROI differs."""
    outputs = {}
    for name, geometry in GEOMETRIES.items():
        pipe = _built(lambda: reader_and_geometry(shards, geometry, params, threads))
        outputs[name] = [np.stack([np.asarray(sample) for sample in output]) for output in pipe.run()]
        del pipe
    (map_before, start_before, extent_before), (map_after, start_after, extent_after) = outputs.values()
    roi_differs = np.any((start_before != start_after) | (extent_before != extent_after), axis=1)
    return {"map_max_abs_diff_px": float(np.abs(map_before - map_after).max()), "roi_differs": int(roi_differs.sum())}


def make_split(folder: Path, frames: int, workers: int) -> Path:
    """A synthetic InterHand2.6M train split as baseline-JPEG shards under `folder` (reused when there)."""
    data, shards = folder / "InterHand2.6M", folder / "shards"
    train_dir = split_dir(shards, "interhand26m", "all", "train")
    if not (data / "annotations").exists():
        synth_run(SynthConfig(frames=frames, cameras=8, captures=4, layout="v1.0"), data, overwrite=True,
                  show_progress=False)
    if not (train_dir / DATASET_FILE).exists():
        shards_run(PreprocessConfig(data=str(data), split="train", shards=str(shards), shard_samples=256,
                                    workers=workers, progress=False))
    return train_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64, help="synthetic time frames (× 8 cameras = train images)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--batches", type=int, default=10, help="timed batches per contender and round")
    parser.add_argument("--warmup", type=int, default=2, help="batches run before the timing")
    parser.add_argument("--workers", type=int, default=2, help="shard-writing processes (data set-up only)")
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the synthetic data and shards here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_dali_graph_"))
    shards = shard_list(make_split(folder, args.frames, args.workers))
    params = list(draw_augment_params_array(np.random.default_rng(0), args.batch_size))
    contenders = {"reader": lambda: reader_and_geometry(shards, None, params, args.threads),
                  **{f"geometry_{name}": (lambda g=g: reader_and_geometry(shards, g, params, args.threads))
                     for name, g in GEOMETRIES.items()},
                  **{f"pipeline_{name}": (lambda g=g: whole_pipeline(shards, g, params, args.threads))
                     for name, g in GEOMETRIES.items()}}
    checked = agreement(shards, params, args.threads)
    if checked["roi_differs"] or checked["map_max_abs_diff_px"] > MAP_TOLERANCE_PX:
        raise SystemExit(f"before and after disagree: {checked}")
    with tempfile.TemporaryDirectory() as scratch:
        operators = {name: (defined_operators(make()), run_operators(_built(make), Path(scratch)))
                     for name, make in contenders.items()}
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for index in range(args.rounds):  # every other round in reverse order, so that no contender always goes first
        for name in list(contenders)[::-1 if index % 2 else 1]:
            rounds[name].append(ms_per_batch(contenders[name], args.warmup, args.batches))
    for name in GEOMETRIES:  # the geometry alone, per round: its pipeline less the reader's of the same round
        rounds[f"geometry_only_{name}"] = [(wall - reader_wall, cpu - reader_cpu) for (wall, cpu), (reader_wall,
                                           reader_cpu) in zip(rounds[f"geometry_{name}"], rounds["reader"])]
    report(args, shards.total, checked, operators, rounds, os.getloadavg())


LABELS = {"reader": "(0) reader alone (record + parameters)", "geometry_before": "(1) reader + geometry, before",
          "geometry_after": "(2) reader + geometry, after", "geometry_only_before": "    geometry alone, before",
          "geometry_only_after": "    geometry alone, after", "pipeline_before": "(3) whole pipeline, before",
          "pipeline_after": "(4) whole pipeline, after"}


def report(args, samples: int, checked: dict, operators: dict, rounds: dict, load: tuple) -> None:
    """The readable table, then one JSON line with every figure."""
    for name in GEOMETRIES:  # the geometry's own operators: its pipeline's less the reader's
        operators[f"geometry_only_{name}"] = tuple(with_geometry - reader for with_geometry, reader
                                                   in zip(operators[f"geometry_{name}"], operators["reader"]))
    defined = {name: sum(kinds[0].values()) for name, kinds in operators.items()}
    run = {name: sum(kinds[1].values()) for name, kinds in operators.items()}
    wall = {name: statistics.median(w for w, _ in values) for name, values in rounds.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in rounds.items()}
    # before / after within each round (the two ran next to each other), then the median: a slow spell of the
    # machine hits both sides of a ratio alike
    ratios = {f"{what}_{kind}_ratio": statistics.median(before[column] / after[column] for before, after
                                                        in zip(rounds[f"{what}_before"], rounds[f"{what}_after"]))
              for what in ("geometry_only", "pipeline") for column, kind in ((0, "wall"), (1, "cpu"))}
    ratios["geometry_operator_ratio"] = defined["geometry_only_before"] / defined["geometry_only_after"]
    print(f"machine: {machine_description()}")
    print(f"{samples} samples (synthetic InterHand2.6M train, baseline JPEGs), batch {args.batch_size}, "
          f"{args.threads} DALI threads on the CPU (device_id=None); median of {args.rounds} interleaved rounds of "
          f"{args.batches} batches after {args.warmup}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"before and after on one batch: ROI differs for {checked['roi_differs']} of {args.batch_size} samples, "
          f"map max |difference| {checked['map_max_abs_diff_px']:.1e} px")
    print(f"{'graph':<42}{'operators defined / run':>24}{'ms/batch':>10}{'CPU ms/batch':>14}  rounds (ms/batch)")
    for name, label in LABELS.items():
        print(f"{label:<42}{f'{defined[name]} / {run[name]}':>24}{wall[name]:>10.1f}{cpu[name]:>14.1f}  "
              + " / ".join(f"{w:.1f}" for w, _ in rounds[name]))
    print(f"before / after, median of the rounds' ratios: the geometry alone {ratios['geometry_only_wall_ratio']:.2f}× "
          f"(CPU time {ratios['geometry_only_cpu_ratio']:.2f}×) with {ratios['geometry_operator_ratio']:.1f}× fewer "
          f"operators; the whole pipeline {ratios['pipeline_wall_ratio']:.3f}× (CPU time "
          f"{ratios['pipeline_cpu_ratio']:.3f}×)")
    print(json.dumps({"benchmark": "dali_graph", "machine": machine_description(), "samples": samples,
                      "batch_size": args.batch_size, "threads": args.threads, "rounds": args.rounds,
                      "batches": args.batches, "load_average": [round(value, 2) for value in load], **checked,
                      **{f"{name}_operators_defined": defined[name] for name in LABELS},
                      **{f"{name}_operators_run": run[name] for name in LABELS},
                      **{f"{name}_ms_per_batch": round(wall[name], 2) for name in LABELS},
                      **{f"{name}_cpu_ms_per_batch": round(cpu[name], 2) for name in LABELS},
                      **{f"geometry_only_{name}_operator_kinds": dict(operators[f"geometry_only_{name}"][0])
                         for name in GEOMETRIES},
                      **{name: round(value, 3) for name, value in ratios.items()}}))


if __name__ == "__main__":
    main()
