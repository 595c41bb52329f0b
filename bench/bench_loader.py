"""Benchmark: loader throughput (images/s) on the same synthetic data, every loader with the same workers.

The synthetic frames are progressive JPEGs, as the real InterHand2.6M ones. The split is written twice:
`interhand shards --jpeg baseline` (the default: re-encoded losslessly as baseline) and `--jpeg source`.
  (1) original-style: per-image JPEG files, OpenCV decode to float32, float warp, per-sample Python
      targets, float CHW tensors from a torch DataLoader (the original's dataset.py and preprocessing.py);
  (2) the reference loader (the default CPU path) on the baseline shards: read by index offsets,
      region-of-interest JPEG decoding (only the window's rows, stopping after the last), uint8 patches, a
      pool of threads, colour applied on the batch; (2s) the same on the source (progressive) shards;
      (2b) on the baseline shards decoding whole frames, to show what the region decoding brings;
  (3) the DALI pipeline on the CPU (the GPU pipeline's twin), baseline shards;
  (4) decode only: the source (progressive) JPEG files decoded to full RGB frames, nothing else, with
      Pillow-SIMD (4a) and with OpenCV (4b) in DataLoader worker processes, and with OpenCV in a pool of
      threads (4c, as the reference loader runs); ratios use the fastest of the three.
On a machine with a GPU, (5) the DALI pipeline with `mixed` decode on one GPU, baseline and source shards,
with and without ROI decoding (`hw_decoder_load` as DaliPipelineSpec's default; `--gpu-only` skips (1)-(4)).
`--profile` adds where one sample's time goes in the reference loader (one thread), per stage.
(6) what both loaders check once when they open the split (`check_served_locations`: the manifest's SHA-256 and
every index against the manifest), in CPU µs per sample of the split, against (2)'s CPU time per image.
Goals: (2) ≥ 5× (1) and ≥ 1.5× the fastest (4); on one H200, (5) baseline ≥ 8,000 images/s; (6) < 2 % of (2).
Each row also gives the CPU time per image (every thread and worker process of the loader, a whole epoch):
on a machine shared with other jobs, the scheduler gives this benchmark a share of the cores that moves with
their load, so images/s swing between rounds while CPU time per image does not.

Usage: python bench/bench_loader.py [--frames 256] [--workers 2] [--batch-size 16] [--repeats 3] [--keep DIR]
       [--profile] [--gpu-only] [--gpu-batch-size 256] [--gpu-workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from interhand.config import LoaderConfig, PreprocessConfig, SynthConfig
from interhand.loaders.build import build_loader
from interhand.loaders.dali_pipeline import cuda_device_count
from interhand.loaders.decode import decode_image
from interhand.preprocess.images import REENCODING
from interhand.preprocess.run import run as shards_run
from interhand.shard_format import names as shard_names
from interhand.synth.run import run as synth_run

from common import machine_description


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, records: list[dict], mode: str):
        self.records, self.mode = records, mode  # "original", "decode_pillow" or "decode_opencv"

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        record = self.records[index]
        cv2.setNumThreads(1)
        if self.mode == "decode_pillow":  # decode only: the full frame, RGB, nothing else
            with Image.open(record["path"]) as picture:
                return torch.tensor(np.asarray(picture.convert("RGB")).shape)
        if self.mode == "decode_opencv":
            with open(record["path"], "rb") as handle:
                return torch.tensor(decode_image(handle.read(), record["path"]).shape)
        return _original_style_sample(record, np.random.default_rng(index))


def _original_style_sample(record: dict, rng: np.random.Generator):
    """The original's __getitem__: cv2.imread → RGB float32, flip, float warpAffine, colour, per-joint
    Python loop, ToTensor()/255 in the worker."""
    from interhand.loaders.augment import draw_augment_params_array, params_from_array, patch_affine
    from interhand.skeleton import NUM_JOINTS

    image = cv2.imread(record["path"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[:, :, ::-1].astype(np.float32)
    params = params_from_array(draw_augment_params_array(rng, 1)[0])
    if params.flip:
        image = image[:, ::-1, :]
    _, flipped_img_to_patch, patch_to_flipped_img = patch_affine(record["bbox"], image.shape[1], params)
    patch = cv2.warpAffine(np.ascontiguousarray(image), flipped_img_to_patch, (256, 256), flags=cv2.INTER_LINEAR)
    patch = np.clip(patch * np.asarray(params.colour, np.float32)[None, None, :], 0, 255)
    joints = record["joints_img"].copy()
    valid = record["joint_valid"].copy()
    for joint in range(NUM_JOINTS):  # trans_point2d, one joint at a time, as the original
        joints[joint, :2] = flipped_img_to_patch @ np.array([joints[joint, 0], joints[joint, 1], 1.0])
        valid[joint] *= (0 <= joints[joint, 0] < 256) and (0 <= joints[joint, 1] < 256)
    tensor = torch.from_numpy(patch.transpose(2, 0, 1).copy()) / 255.0
    return (tensor, torch.from_numpy(joints.astype(np.float32)), torch.from_numpy(valid),
            torch.from_numpy(patch_to_flipped_img))


def _file_records(shard_dir: Path) -> list[dict]:
    """Per-image records as the original builds them in __init__ (not timed): path, box, joints."""
    import webdataset as wds

    from interhand.loaders.shard_list import shard_list
    from interhand.shard_format.ann_codec import decode_ann

    records = []
    for members in wds.WebDataset(list(shard_list(shard_dir).paths), shardshuffle=False, empty_check=False):
        ann = decode_ann(members["ann"])
        info = json.loads(members["json"])
        records.append({"key": members["__key__"], "file_name": info["file_name"],
                        "bbox": ann["bbox"].astype(np.float64),
                        "joints_img": ann["joints_img"].astype(np.float64), "joint_valid": ann["joint_valid"].copy(),
                        "image_size": ann["image_size_px"].astype(np.int64)})
    return records


def _threaded_decode(records: list[dict], batch: int, workers: int):
    """Decode-only batches from a pool of `workers` threads (OpenCV releases the GIL while decoding)."""
    from concurrent.futures import ThreadPoolExecutor

    def decode_batch(chunk: list[dict]) -> list[tuple]:
        cv2.setNumThreads(1)
        shapes = []
        for record in chunk:
            with open(record["path"], "rb") as handle:
                shapes.append(decode_image(handle.read(), record["path"]).shape)
        return shapes

    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(decode_batch, [records[i:i + batch] for i in range(0, len(records), batch)])


def _window_fraction(records: list[dict], seed: int = 0) -> float:
    """Mean share of the frame's pixels under the augmented patches' source windows (what region decoding reads)."""
    from interhand.loaders.augment import augmented_patch_affines, counter_params
    from interhand.loaders.decode import source_window

    boxes = np.array([record["bbox"] for record in records])
    sizes = np.array([record["image_size"] for record in records], dtype=np.float64)
    affines = augmented_patch_affines(boxes, sizes[:, 0], counter_params(seed, 0, np.arange(len(records))))[0]
    shares = []
    for affine, (width, height) in zip(affines, sizes):
        x0, y0, x1, y1 = source_window(affine, 256)
        shares.append(max(min(x1, width) - max(x0, 0), 0) * max(min(y1, height) - max(y0, 0), 0) / (width * height))
    return float(np.mean(shares))


def _stage_profile(split_dirs: dict[str, Path], samples: int = 256) -> dict[str, dict[str, float]]:
    """Median µs per sample of each stage of the reference loader's batch, in one thread, per shard kind:
    read (pread of the members by the index), records (the `.ann` records, affines and targets of a batch of
    16, per sample), decode (the region decoder on the patch's source window, RGBX), warp (OpenCV warpAffine
    of the RGBX window and the pack to RGB into the batch row, as `decode_and_warp`), and, for comparison, the
    three-channel warp of the same window as RGB and a whole-frame decode (OpenCV) of the same bytes."""
    from interhand.loaders.augment import augmented_patch_affines, counter_params, warp_patch
    from interhand.loaders.batch import targets_from_records
    from interhand.loaders.decode import _decode_region, decode_image, source_window
    from interhand.loaders.reference import ShardReader
    from interhand.loaders.shard_list import shard_list
    from interhand.shard_format.ann_codec import ANN_DTYPE, decode_ann_records

    cv2.setNumThreads(1)
    profile = {}
    for kind, split_dir in split_dirs.items():
        reader = ShardReader(shard_list(split_dir))
        times: dict[str, list[float]] = {name: [] for name in ("read", "records", "decode", "warp", "warp_rgb",
                                                               "whole_frame")}
        patch = np.empty((256, 256, 3), np.uint8)
        for first in range(0, min(samples, reader.shards.total) - 15, 16):
            indices = np.arange(first, first + 16)
            started = time.perf_counter()
            members = [reader.read(int(index), ("jpg", "ann"))[1] for index in indices]
            times["read"].append((time.perf_counter() - started) / 16)
            started = time.perf_counter()
            fields = decode_ann_records(np.stack([np.frombuffer(m["ann"], ANN_DTYPE) for m in members]), "profile")
            params = counter_params(0, 0, indices)
            affines = augmented_patch_affines(fields["bbox"], fields["image_size_px"][:, 0], params, 256)[0]
            targets_from_records(fields, params)
            times["records"].append((time.perf_counter() - started) / 16)
            for row, sample in enumerate(members):
                x0, y0, x1, y1 = source_window(affines[row], 256)
                started = time.perf_counter()
                pixels, left, top, width, height, _, _ = _decode_region(sample["jpg"], x0 - 1, y0, x1 + 1, y1, 4)
                times["decode"].append(time.perf_counter() - started)
                window_rgbx = np.frombuffer(pixels, np.uint8).reshape(height, width, 4)
                shifted = affines[row].astype(np.float64)
                shifted[:, 2] += shifted[:, :2] @ np.array([left, top], dtype=np.float64)
                started = time.perf_counter()
                cv2.cvtColor(warp_patch(window_rgbx, shifted, 256), cv2.COLOR_RGBA2RGB, dst=patch)
                times["warp"].append(time.perf_counter() - started)
                window_rgb = np.ascontiguousarray(window_rgbx[..., :3])
                started = time.perf_counter()
                warp_patch(window_rgb, shifted, 256)
                times["warp_rgb"].append(time.perf_counter() - started)
                started = time.perf_counter()
                decode_image(sample["jpg"], "profile")
                times["whole_frame"].append(time.perf_counter() - started)
        reader.close()
        profile[kind] = {name: float(np.median(values)) * 1e6 for name, values in times.items()}
    return profile


def _cpu_seconds() -> float:
    """User + system CPU time of this process's threads and of its finished children (DataLoader workers are
    joined when their epoch ends)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rate(epoch, count_of, warmup_batches: int = 2) -> tuple[float, int, float]:
    """images/s after the warm-up batches, images timed, and CPU µs per image over the whole epoch (warm-up,
    worker start and every thread or process included). On a shared machine the CPU time is what the other
    jobs do not change: the scheduler gives this process (its session) a share of the cores whatever it runs."""
    cpu_start = _cpu_seconds()
    iterator = iter(epoch())
    warmup_images = sum(count_of(next(iterator)) for _ in range(warmup_batches))
    images, start = 0, time.perf_counter()
    for item in iterator:
        images += count_of(item)
    rate = images / (time.perf_counter() - start)
    del iterator  # DataLoader workers exit, so their CPU time is counted
    return rate, images, (_cpu_seconds() - cpu_start) / (images + warmup_images) * 1e6


def _open_check_cpu_us(split_dir: Path, repeats: int) -> dict[str, float]:
    """CPU µs per sample of the split (median of `repeats`) of the checks a loader runs when it opens the folder: the
    manifest's SHA-256, and every index compared with the one the manifest implies. Paid once per split and process,
    whatever is then read; the folder's files are in the page cache, as after the first open."""
    from interhand.manifests.index_check import check_indexes_match_manifest, check_manifest_sha256
    from interhand.shard_format.dataset_json import read_dataset_json

    dataset = read_dataset_json(split_dir)
    timings = {}
    for name, check in (("manifest_sha256", check_manifest_sha256), ("indexes", check_indexes_match_manifest)):
        seconds = []
        for _ in range(repeats):
            started = time.process_time()
            check(split_dir, dataset)
            seconds.append(time.process_time() - started)
        timings[name] = float(np.median(seconds)) / dataset.counts.samples * 1e6
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=256, help="synthetic time frames (× cameras = images)")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="worker processes / threads, for every loader")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over every loader; the median is reported")
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the synthetic data and shards here")
    parser.add_argument("--profile", action="store_true", help="also time the reference loader's stages per sample")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU rows (5) (and --profile)")
    parser.add_argument("--gpu-batch-size", type=int, default=256)
    parser.add_argument("--gpu-workers", type=int, default=8, help="DALI CPU threads of the GPU rows")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_loader_"))
    data, split_dirs = folder / "InterHand2.6M", {}
    if not (data / "annotations").exists():
        synth_run(SynthConfig(frames=args.frames, cameras=args.cameras, captures=4, layout="v1.0"), data,
                  overwrite=True)
    # Without the re-encoding C extension (a machine with no compiler or libjpeg headers) baseline shards cannot be
    # written: --gpu-only then measures the source shards alone; the CPU rows need both.
    kinds = ("baseline", "source") if REENCODING or not args.gpu_only else ("source",)
    for jpeg in kinds:
        shards = folder / f"shards_{jpeg}"
        split_dirs[jpeg] = shard_names.split_dir(shards, "interhand26m", "all", "train")
        if not (split_dirs[jpeg] / shard_names.DATASET_FILE).exists():
            shards_run(PreprocessConfig(data=str(data), split="train", shards=str(shards), shard_samples=256,
                                        workers=args.workers, progress=False, jpeg=jpeg))
    split_dir = split_dirs[kinds[0]]
    records = _file_records(split_dir)
    for record in records:
        record["path"] = str(data / "images" / "train" / record["file_name"])
    batch, workers = args.batch_size, args.workers

    def file_loader(mode):
        return torch.utils.data.DataLoader(_FileDataset(records, mode), batch_size=batch, num_workers=workers,
                                           shuffle=False)

    def build(backend: str, jpeg: str = "baseline", batch_size: int = batch, **options):
        return build_loader(split_dirs[jpeg], LoaderConfig(backend=backend, batch_size=batch_size, augment=True,
                                                           **options))

    def images(b) -> int:
        return len(b.keys)

    contenders = {} if args.gpu_only else {  # name → (a fresh epoch's iterable, images in an item)
        "original_style": (lambda: file_loader("original"), lambda b: len(b[0])),
        "reference": (build("reference", device="cpu", threads=workers).__iter__, images),
        "reference_source": (build("reference", "source", device="cpu", threads=workers).__iter__, images),
        "reference_whole_frames": (build("reference", device="cpu", threads=workers, roi_decode=False).__iter__,
                                   images),
        "dali_cpu": (build("dali", device="cpu", threads=workers).__iter__, images),
        "decode_only_pillow": (lambda: file_loader("decode_pillow"), len),
        "decode_only_opencv": (lambda: file_loader("decode_opencv"), len),
        "decode_only_opencv_threads": (lambda: _threaded_decode(records, batch, workers), len),
    }
    if cuda_device_count():
        for jpeg in kinds:
            for roi in (True, False):
                loader = build("dali", jpeg, args.gpu_batch_size, device="gpu", threads=args.gpu_workers,
                               roi_decode=roi)
                contenders[f"dali_gpu_{jpeg}{'' if roi else '_whole_frames'}"] = (loader.__iter__, images)
    # Rounds interleave the contenders, so a slow spell of the machine hits them alike; the median is reported.
    rates = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, (epoch, count_of) in contenders.items():
            rates[name].append(_rate(epoch, count_of))
    results = {name: (float(np.median([rate for rate, _, _ in runs])), runs[0][1]) for name, runs in rates.items()}
    cpu_us = {name: float(np.median([cpu for _, _, cpu in runs])) for name, runs in rates.items()}
    load = os.getloadavg()

    window_fraction = _window_fraction(records)
    open_check = {} if args.gpu_only else _open_check_cpu_us(split_dir, max(args.repeats, 5))
    open_share = sum(open_check.values()) / cpu_us["reference"] if open_check else 0.0
    profile = _stage_profile(split_dirs) if args.profile else {}
    print(f"machine: {machine_description()}; GPUs seen by DALI: {cuda_device_count()}")
    print(f"{len(records)} images (512×334 / 334×512 progressive JPEGs), batch {batch}, {workers} workers/threads "
          f"each (GPU rows: batch {args.gpu_batch_size}, {args.gpu_workers} DALI threads); median of {args.repeats} "
          f"interleaved rounds; the patches' source windows cover {window_fraction:.0%} of a frame on average; "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    print(f"{'loader':<52}{'images/s':>10}{'CPU µs/image':>14}  rounds (images/s)")
    labels = {"original_style": "(1) original-style (files, float warp)",
              "reference": "(2) reference loader, baseline shards",
              "reference_source": "(2s) reference loader, source (progressive) shards",
              "dali_cpu": "(3) DALI pipeline, CPU, baseline shards",
              "decode_only_pillow": "(4a) decode only, Pillow-SIMD",
              "reference_whole_frames": "(2b) reference loader, baseline, whole frames",
              "decode_only_opencv": "(4b) decode only, OpenCV",
              "decode_only_opencv_threads": "(4c) decode only, OpenCV, threads",
              **{f"dali_gpu_{jpeg}{suffix}": f"(5) DALI mixed, {jpeg} shards, {what}" for jpeg in ("baseline", "source")
                 for suffix, what in (("", "ROI decode"), ("_whole_frames", "whole frames"))}}
    for name, (rate, _) in results.items():
        rounds = " / ".join(f"{r:.0f}" for r, _, _ in rates[name])
        print(f"{labels[name]:<52}{rate:>10.1f}{cpu_us[name]:>14.0f}  {rounds}")
    ratios = {}
    if not args.gpu_only:
        decode_only_names = ("decode_only_pillow", "decode_only_opencv", "decode_only_opencv_threads")
        decode_only = max(results[name][0] for name in decode_only_names)  # the fastest decode-only loop
        ratios = {"reference_over_original": results["reference"][0] / results["original_style"][0],
                  "reference_over_decode_only": results["reference"][0] / decode_only,
                  "reference_source_over_decode_only": results["reference_source"][0] / decode_only,
                  "dali_cpu_over_original": results["dali_cpu"][0] / results["original_style"][0],
                  # the same by CPU time per image: decode-only's cheapest against the reference loader's
                  "reference_over_decode_only_cpu":
                      min(cpu_us[name] for name in decode_only_names) / cpu_us["reference"]}
        print(f"reference / original-style = {ratios['reference_over_original']:.2f} (goal ≥ 5); "
              f"reference / decode-only (fastest) = {ratios['reference_over_decode_only']:.2f} (goal ≥ 1.5; "
              f"on source shards {ratios['reference_source_over_decode_only']:.2f}); by CPU time per image "
              f"{ratios['reference_over_decode_only_cpu']:.2f}")
    if open_check:
        print(f"(6) checks at open: {sum(open_check.values()):.1f} CPU µs per sample of the split (manifest SHA-256 "
              f"{open_check['manifest_sha256']:.1f}, indexes against the manifest {open_check['indexes']:.1f}), "
              f"{open_share:.2%} of (2)'s CPU time per image (goal < 2 %; a process that reads 1/N of the split "
              "once pays N times this share)")
    if "dali_gpu_baseline" in results:
        print(f"DALI mixed, baseline shards: {results['dali_gpu_baseline'][0]:,.0f} images/s "
              f"(goal ≥ 8,000 on one H200)")
    if profile:
        print("per sample, one thread, median µs: " + "; ".join(
            f"{kind} shards: " + ", ".join(f"{stage} {value:.0f}" for stage, value in stages.items())
            for kind, stages in profile.items()))
    print(json.dumps({"benchmark": "loader", "machine": machine_description(), "images": len(records),
                      "repeats": args.repeats,
                      "window_fraction": round(window_fraction, 3),
                      "batch_size": batch, "workers": workers, "gpu_batch_size": args.gpu_batch_size,
                      "gpu_workers": args.gpu_workers,
                      "load_average": [round(value, 2) for value in load],
                      **{f"{name}_images_per_s": round(rate, 1) for name, (rate, _) in results.items()},
                      **{f"{name}_cpu_us_per_image": round(value, 1) for name, value in cpu_us.items()},
                      **{name: round(value, 3) for name, value in ratios.items()},
                      **{f"open_check_{name}_cpu_us_per_sample": round(value, 2) for name, value in open_check.items()},
                      **({"open_check_over_reference_cpu": round(open_share, 5)} if open_check else {}),
                      **({"profile_us": {kind: {stage: round(value, 1) for stage, value in stages.items()}
                                         for kind, stages in profile.items()}} if profile else {})}))


if __name__ == "__main__":
    main()
