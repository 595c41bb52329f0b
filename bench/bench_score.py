"""Benchmark: `interhand score`'s cost over the evaluator alone, per file form and format.

Baseline: the evaluator `interhand eval` runs (InterHandEvaluator.compute on decoded predictions already in
memory). Variants: the scoring path of `interhand score` for N samples, from a file on disk to metrics:
read and check the file (Parquet, NPZ or JSON), match its ids to the manifest rows, convert the form, run the
same evaluator. The ground truth is N synthetic samples (two hands about 1 m in front of a camera, every joint
valid, a third interacting) held in memory as `read_rows` returns it, so reading the manifest is not timed.
Variants are interleaved round by round; each figure is the median of the rounds. Prints a table, the machine,
and as its last line one JSON object.

    .venv/bin/python bench/bench_score.py [--samples 100000] [--rounds 3] [--json-samples 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_description  # noqa: E402
from interhand.eval.evaluators import DecodedPredictions, GroundTruth, InterHandEvaluator  # noqa: E402
from interhand.eval.predictions import PredictionFile, read_predictions, write_predictions  # noqa: E402
from interhand.eval.score_file import match_rows, protocol_mask, score_file  # noqa: E402
from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_ROOT, JOINTS_PER_HAND, NUM_JOINTS  # noqa: E402

RIGHT_ROOT, LEFT_ROOT = IH26M_ROOT["right"], IH26M_ROOT["left"]


def _rows(count: int, rng: np.random.Generator) -> dict:
    """Manifest-like ground truth for `count` samples (read_rows' columns that scoring uses)."""
    wrists = np.stack([rng.uniform(-150, 0, count), rng.uniform(-50, 50, count), rng.uniform(800, 1200, count)], 1)
    left = wrists + np.array([180.0, 0.0, 20.0])
    joints = np.concatenate([wrists[:, None] + rng.normal(0, 40, (count, JOINTS_PER_HAND, 3)),
                             left[:, None] + rng.normal(0, 40, (count, JOINTS_PER_HAND, 3))], axis=1)
    joints[:, RIGHT_ROOT], joints[:, LEFT_ROOT] = wrists, left
    hand_type = rng.choice(np.array(["right", "left", "interacting"], dtype=object), count)
    return {"key": np.array([f"ih26m-test-{i:09d}" for i in range(count)], dtype=object),
            "annotation_id": np.arange(count, dtype=np.int64), "joints_cam_mm": joints,
            "joint_valid": np.ones((count, NUM_JOINTS)), "hand_type": hand_type, "hand_type_valid": np.ones(count),
            "focal": np.full((count, 2), 1200.0), "princpt": np.tile([167.0, 256.0], (count, 1)),
            "abs_depth_gt_mm": np.stack([wrists[:, 2], left[:, 2]], 1),
            "rootnet_abs_depth_mm": np.stack([wrists[:, 2], left[:, 2]], 1) + rng.normal(0, 30, (count, 2)),
            "root_joint_index": np.tile([float(RIGHT_ROOT), float(LEFT_ROOT)], (count, 1))}


def _image_form(rows: dict, joints_cam: np.ndarray) -> dict:
    uv = joints_cam[..., :2] / joints_cam[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    wrist_depth = np.where(np.arange(NUM_JOINTS)[None] < JOINTS_PER_HAND, joints_cam[:, RIGHT_ROOT, None, 2],
                           joints_cam[:, LEFT_ROOT, None, 2])
    return {"joints_img_px": uv, "joints_rel_depth_mm": joints_cam[..., 2] - wrist_depth,
            "rel_root_depth_mm": joints_cam[:, LEFT_ROOT, 2] - joints_cam[:, RIGHT_ROOT, 2]}


def _files(rows: dict, folder: Path, json_samples: int, rng: np.random.Generator) -> dict[str, Path]:
    joints = rows["joints_cam_mm"] + rng.normal(0, 5, rows["joints_cam_mm"].shape)
    metadata = {"dataset": "interhand26m", "split": "test"}
    keys = list(rows["key"])
    camera = PredictionFile("", metadata, keys, None, {"joints_cam_mm": joints}, "camera")
    image = PredictionFile("", {**metadata, "root_source": "gt"}, keys, None, _image_form(rows, joints),
                           "image_relative")
    small = PredictionFile("", metadata, keys[:json_samples], None, {"joints_cam_mm": joints[:json_samples]},
                           "camera")
    return {"camera, parquet": write_predictions(folder / "camera.parquet", camera),
            "image_relative, parquet": write_predictions(folder / "image.parquet", image),
            "camera, npz": write_predictions(folder / "camera.npz", camera),
            "camera, json": write_predictions(folder / "camera.json", small)}


def _baseline(rows: dict, image: dict) -> float:
    """The evaluator alone, as `interhand eval` runs it on predictions already decoded."""
    count = len(rows["key"])
    start = time.perf_counter()
    truth = GroundTruth(rows["joints_cam_mm"], rows["joint_valid"], rows["hand_type"].astype(str),
                        rows["hand_type_valid"], rows["focal"], rows["princpt"], rows["abs_depth_gt_mm"],
                        rows["root_joint_index"].astype(np.int64))
    joints_img_rel = np.concatenate([image["joints_img_px"], image["joints_rel_depth_mm"][..., None]], -1)
    evaluator = InterHandEvaluator(IH26M_JOINT_NAMES)
    evaluator.update(DecodedPredictions(list(rows["key"]), joints_img_rel, image["rel_root_depth_mm"],
                                        np.zeros((count, 2))), truth)
    evaluator.compute()
    return time.perf_counter() - start


def _score(rows: dict, path: Path) -> tuple[float, float]:
    """(seconds to read and check the file, seconds for the whole scoring path)."""
    start = time.perf_counter()
    predictions = read_predictions(path)
    read = time.perf_counter() - start
    index = match_rows(predictions, rows, "manifest")
    score_file(predictions, rows, index, protocol_mask("all", rows, None), "interhand26m", "gt")
    return read, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--json-samples", type=int, default=20_000, help="JSON is slow to parse: fewer samples")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = _rows(args.samples, rng)
    json_rows = {name: values[:args.json_samples] for name, values in rows.items()}
    times: dict[str, list[float]] = {"baseline: evaluator alone": []}
    reads: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-score-") as folder:
        files = _files(rows, Path(folder), args.json_samples, rng)
        sizes = {name: path.stat().st_size for name, path in files.items()}
        image = {name: values for name, values in read_predictions(files["image_relative, parquet"]).arrays.items()}
        for _ in range(args.rounds):
            times["baseline: evaluator alone"].append(_baseline(rows, image))
            for name, path in files.items():
                read, total = _score(json_rows if name.endswith("json") else rows, path)
                reads.setdefault(name, []).append(read)
                times.setdefault(name, []).append(total)
    counts = {name: args.json_samples if name.endswith("json") else args.samples for name in times}
    rates = {name: counts[name] / statistics.median(values) for name, values in times.items()}
    baseline = rates["baseline: evaluator alone"]
    print(f"{'variant':<28} {'samples':>8} {'file MB':>8} {'read s':>7} {'total s':>8} {'samples/s':>10} "
          f"{'x baseline':>10}")
    for name, values in times.items():
        read = f"{statistics.median(reads[name]):.2f}" if name in reads else "-"
        size = f"{sizes[name] / 1e6:.1f}" if name in sizes else "-"
        print(f"{name:<28} {counts[name]:>8} {size:>8} {read:>7} {statistics.median(values):>8.2f} "
              f"{rates[name]:>10,.0f} {rates[name] / baseline:>10.2f}")
    print(f"median of {args.rounds} interleaved rounds; machine: {machine_description()}")
    print(json.dumps({"samples": args.samples, "rounds": args.rounds, "machine": machine_description(),
                      "samples_per_s": {name: round(rate) for name, rate in rates.items()},
                      "ratio_to_evaluator": {name: round(rate / baseline, 3) for name, rate in rates.items()},
                      "read_s": {name: round(statistics.median(values), 3) for name, values in reads.items()},
                      "file_bytes": sizes}))


if __name__ == "__main__":
    main()
