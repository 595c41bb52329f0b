"""Benchmark: `interhand synth` frames/s on one core, against JPEG encoding alone (the floor of writing
the same images), timed in the same run. Goal (foundation issue): at least 50 frames/s on one core.

Usage: python bench/bench_synth.py [--frames 40] [--cameras 6]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from interhand.config import SynthConfig
from interhand.synth.render import make_background
from interhand.synth.run import run as synth_run

from common import machine_description


def _time_synth(config: SynthConfig) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        synth_run(config, Path(folder) / "data", show_progress=False)
        elapsed = time.perf_counter() - start
        images = sum(1 for _ in (Path(folder) / "data" / "images").rglob("*.jpg"))
    return elapsed, images


def _time_jpeg_only(count: int, quality: int) -> float:
    rng = np.random.default_rng(0)
    frames = [make_background(rng, *size) for size in ((334, 512), (512, 334))]
    start = time.perf_counter()
    for index in range(count):
        Image.fromarray(frames[index % 2]).save(io.BytesIO(), format="JPEG", quality=quality, progressive=True,
                                                subsampling="4:2:0")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="time frames per split")
    parser.add_argument("--cameras", type=int, default=6)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the goal states
    config = SynthConfig(dataset="interhand26m", frames=args.frames, cameras=args.cameras, captures=2)
    synth_seconds, images = _time_synth(config)
    jpeg_seconds = _time_jpeg_only(images, config.jpeg_quality)
    synth_rate, jpeg_rate = images / synth_seconds, images / jpeg_seconds
    print(f"machine: {machine_description()} (pinned to 1 core)")
    print(f"{'what':<44}{'images':>8}{'seconds':>10}{'images/s':>10}")
    print(f"{'interhand synth (render + JPEG + json)':<44}{images:>8}{synth_seconds:>10.2f}{synth_rate:>10.1f}")
    print(f"{'baseline: JPEG encode only, same sizes':<44}{images:>8}{jpeg_seconds:>10.2f}{jpeg_rate:>10.1f}")
    print(f"synth reaches {synth_rate / jpeg_rate:.2f}x of encode-only; goal >= 50 frames/s on one core: "
          f"{'met' if synth_rate >= 50 else 'NOT met'}")
    print(json.dumps({"benchmark": "synth", "machine": machine_description(), "cores": 1, "images": images,
                      "synth_images_per_s": round(synth_rate, 1), "jpeg_only_images_per_s": round(jpeg_rate, 1),
                      "ratio_synth_to_jpeg_only": round(synth_rate / jpeg_rate, 3), "goal_images_per_s": 50,
                      "goal_met": synth_rate >= 50}))


if __name__ == "__main__":
    main()
