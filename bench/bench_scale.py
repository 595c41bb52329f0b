"""Benchmark every job at InterHand2.6M's real size (#31): peak RSS, wall and CPU time, and how they grow with N.

A synthetic InterHand2.6M v1.0 at the real split sizes (5 fps: 1,361,062 train, 380,125 val, 849,160 test; `--fps30`
six times that) times each `--scale`, written in the real on-disk format (annotations/<split>/*_data.json,
_camera.json, _joint_3d.json, RootNet outputs, the H-subset id lists, images/<split>/Capture*/...jpg) by a streaming
generator: a capture's frames at a time, never all annotations as Python objects. Its frames are 16×10-px JPEGs,
each a distinct file, whose cameras (focal 50 px, principal point at the centre, 1 m from the hands) make every
annotation geometrically coherent: the joints project into the frame, the boxes are the valid joints' boxes.

Then each job in turn, each in a fresh process under /usr/bin/time (peak RSS: the largest process of the job):
`interhand shards` (train, val, test), `interhand verify` (all three), the reference loader's start-up and one
epoch's index walk (open + index parse + shares + every key; no image decoded), the DALI CPU loader's start-up
(its reader parses the indexes: `reader_meta`), `interhand eval --baseline mean-pose` on test, `interhand score`
of a test prediction file in each form, `interhand compare`; and, timed in the same run, the baselines: reading
the columns the mean-pose baseline and score need with pyarrow (to numpy). Across scales: a log-log slope of
time and of RSS against N, and each figure extrapolated to the full 5 fps and 30 fps sizes.

Goals: every job at full size within 4 GiB peak RSS and linear in N (slope ≤ 1.15); mean-pose and score within 2×
of their pyarrow column reads.

Usage: python bench/bench_scale.py [--scale 1/64,1/16] [--fps30] [--workers W] [--keep DIR]
       python bench/bench_scale.py --report SAVED.jsonl [--markdown]
Prints a table and the machine; the LAST line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import machine_description

SPLIT_SIZES = {"train": 1_361_062, "val": 380_125, "test": 849_160}  # InterHand2.6M v1.0, 5 fps, H+M
_CAMERAS = 40  # per capture, as the real rig
_FRAMES = 600  # time frames per capture
_WIDTH, _HEIGHT, _FOCAL = 16, 10, 50.0  # px: hands ±100 mm at 1 m → ±5 px
_ID_BASE = {"train": 10_000_000, "val": 20_000_000, "test": 30_000_000}
_HAND_TYPES = ("right", "left", "interacting")
_GOAL_RSS_MIB = 4096
_GOAL_SLOPE = 1.15
_PYTHON = sys.executable


# --- the synthetic dataset -----------------------------------------------------------------------------------

def _template(rng: np.random.Generator) -> np.ndarray:
    """(42, 3) world mm: a right hand (joints 0-20, wrist 20) left of the origin, a left hand (21-41) right of it."""
    joints = np.zeros((42, 3))
    for block, wrist_x in ((slice(0, 21), -50.0), (slice(21, 42), 50.0)):
        hand = rng.uniform(-40, 40, (21, 3)) * [1.0, 0.8, 1.0]
        hand[20] = 0.0
        joints[block] = hand + [wrist_x, 0.0, 0.0]
    return joints


def _capture(rng: np.random.Generator, capture: int, template: np.ndarray) -> tuple[dict, np.ndarray, list]:
    """The capture's cameras (json), each frame's world joints (F, 42, 3) and hand types."""
    names = [str(400000 + capture * 100 + c) for c in range(_CAMERAS)]
    campos = np.column_stack([rng.normal(0, 5, (_CAMERAS, 2)), np.full(_CAMERAS, -1000.0)])
    cameras = {"campos": {n: p.tolist() for n, p in zip(names, campos)},
               "camrot": {n: np.eye(3).tolist() for n in names},
               "focal": {n: [_FOCAL, _FOCAL] for n in names},
               "princpt": {n: [_WIDTH / 2, _HEIGHT / 2] for n in names}}
    joints = template[None] + rng.normal(0, 4, (_FRAMES, 42, 3))
    hand_types = [_HAND_TYPES[(capture + f) % 3] for f in range(_FRAMES)]
    return cameras, joints, hand_types


@functools.lru_cache(maxsize=256)
def _gradient_jpeg(shade: int) -> bytes:
    from PIL import Image

    colour = np.array([shade, 255 - shade, (7 * shade) % 256], np.float64)
    pixels = colour * (0.5 + 0.5 * np.linspace(0, 1, _WIDTH))[None, :, None]
    buffer = io.BytesIO()
    Image.fromarray(np.broadcast_to(pixels, (_HEIGHT, _WIDTH, 3)).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _jpeg(image_id: int) -> bytes:
    """A 16×10 gradient (256 shades, encoded once each) with the id in a COM segment: every frame a distinct
    small file, made without an encode per frame."""
    comment = f"interhand bench_scale {image_id}".encode()
    data = _gradient_jpeg(image_id % 256)
    after_app0 = 4 + int.from_bytes(data[4:6], "big")  # SOI, then JFIF's APP0 first, as decoders expect
    return data[:after_app0] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[after_app0:]


class _JsonList:
    """A JSON list written item by item."""

    def __init__(self, handle, prefix: str):
        self.handle, self.first = handle, True
        handle.write(prefix + "[")

    def add(self, item) -> None:
        self.handle.write(("" if self.first else ",") + json.dumps(item))
        self.first = False

    def close(self, suffix: str = "]") -> None:
        self.handle.write(suffix)


def _write_split(root: Path, split: str, count: int, seed: int) -> None:
    folder = root / "annotations" / split
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / f"InterHand2.6M_{split}"
    rng = np.random.default_rng([seed, len(split)])
    template = _template(rng)
    per_capture = _CAMERAS * _FRAMES
    captures = math.ceil(count / per_capture)
    rootnet_file = None
    if split != "train":
        rootnet_file = open(root / "rootnet_output" / f"rootnet_interhand2.6m_output_{split}.json", "w")
        rootnet = _JsonList(rootnet_file, "")
    human = open(root / f"aid_human_annot_{split}.txt", "w") if split != "val" else None
    annotations_path = Path(f"{prefix}_annotations.part")
    with open(f"{prefix}_data.json", "w") as data, open(annotations_path, "w") as annotations_part, \
            open(f"{prefix}_camera.json", "w") as camera_file, open(f"{prefix}_joint_3d.json", "w") as joint_file:
        images = _JsonList(data, '{"images": ')
        annotations = _JsonList(annotations_part, "")
        camera_file.write("{")
        joint_file.write("{")
        for capture in range(captures):
            cameras, joints_world, hand_types = _capture(rng, capture, template)
            camera_file.write(("," if capture else "") + f'"{capture}": ' + json.dumps(cameras))
            entries = []
            for frame in range(_FRAMES):
                valid = np.ones(42, bool)
                valid[21:] &= hand_types[frame] != "right"
                valid[:21] &= hand_types[frame] != "left"
                entries.append(f'"{frame}": ' + json.dumps({
                    "world_coord": np.round(joints_world[frame], 3).tolist(), "joint_valid": [[bool(v)] for v in valid],
                    "hand_type": hand_types[frame], "hand_type_valid": True}))
            joint_file.write(("," if capture else "") + f'"{capture}": {{' + ",".join(entries) + "}")
            first = capture * per_capture
            _images(root, split, range(first, min(count, first + per_capture)), capture, cameras, joints_world,
                    hand_types, images, annotations, rootnet if rootnet_file else None, human)
        camera_file.write("}")
        joint_file.write("}")
        annotations.close()
        annotations_part.flush()
        images.close('], "annotations": ')
        with open(annotations_path) as part:
            shutil.copyfileobj(part, data)
        data.write("}")
    annotations_path.unlink()
    if rootnet_file:
        rootnet.close()
        rootnet_file.close()
    if human:
        human.close()


def _images(root, split, indices, capture, cameras, joints_world, hand_types, images, annotations, rootnet, human):
    """A capture's frames `indices` (index = frame × cameras + camera within the capture): the geometry of all of
    them as arrays first, then one JPEG file and one JSON entry each."""
    index = np.asarray(indices)
    frame, camera_index = np.divmod(index % (_CAMERAS * _FRAMES), _CAMERAS)
    names = list(cameras["campos"])
    campos = np.asarray([cameras["campos"][name] for name in names])
    joints_cam = joints_world[frame] - campos[camera_index][:, None]  # camrot is the identity
    uv = joints_cam[..., :2] / joints_cam[..., 2:3] * _FOCAL + [_WIDTH / 2, _HEIGHT / 2]
    hand_type = np.asarray(hand_types)[frame]
    drawn = np.ones((len(index), 42), bool)
    drawn[:, 21:] &= (hand_type != "right")[:, None]
    drawn[:, :21] &= (hand_type != "left")[:, None]
    valid = drawn & (uv[..., 0] >= 0) & (uv[..., 0] < _WIDTH) & (uv[..., 1] >= 0) & (uv[..., 1] < _HEIGHT)
    low = np.where(valid[..., None], uv, np.inf).min(axis=1)
    high = np.where(valid[..., None], uv, -np.inf).max(axis=1)
    bboxes = np.round(np.concatenate([low, high - low], axis=1), 3).tolist()
    centre, side = low + (high - low) / 2, (high - low).max(axis=1) * 1.25 + 1.0
    rootnet_boxes = np.column_stack([centre - side[:, None] / 2, side, side]).tolist()
    depths = (joints_cam[:, [20, 41], 2] + 10.0).tolist()
    folder = root / "images" / split
    for i, (image, frame_idx, camera, box, valid_row) in enumerate(zip(index.tolist(), frame.tolist(),
                                                                        camera_index.tolist(), bboxes, valid.tolist())):
        name = names[camera]
        image_id = _ID_BASE[split] + image
        file_name = f"Capture{capture}/0000_synthetic/cam{name}/image{frame_idx}.jpg"
        if frame_idx == 0:  # a camera's folder, made at its first frame
            (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(f"{folder}/{file_name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(handle, _jpeg(image_id))
        os.close(handle)
        images.add({"id": image_id, "file_name": file_name, "width": _WIDTH, "height": _HEIGHT, "capture": capture,
                    "subject": capture % 26, "seq_name": "0000_synthetic", "camera": name, "frame_idx": frame_idx})
        annotations.add({"id": image_id, "image_id": image_id, "bbox": box,
                         "joint_valid": [[int(v)] for v in valid_row], "hand_type": str(hand_type[i]),
                         "hand_type_valid": 1})
        if rootnet is not None:
            rootnet.add({"annot_id": image_id, "bbox": rootnet_boxes[i], "abs_depth": depths[i],
                         "root_valid": [1.0, 1.0]})
        if human is not None and image % 3 == 0:
            human.write(f"{image_id}\n")


def write_dataset(root: Path, sizes: dict[str, int], seed: int = 0, processes: int = 1) -> None:
    """The splits in `processes` processes, largest first (each split its own files and its own seeded stream, so
    the dataset is the same for any number)."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "rootnet_output").mkdir(exist_ok=True)
    order = sorted(sizes, key=sizes.get, reverse=True)
    if processes <= 1:
        for split in order:
            _write_split(root, split, sizes[split], seed)
        return
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        for done in [pool.submit(_write_split, root, split, sizes[split], seed) for split in order]:
            done.result()


# --- the jobs ------------------------------------------------------------------------------------------------

# Runs a job as a subreaper (prctl PR_SET_CHILD_SUBREAPER): every process it starts, the worker pools' too (a
# forkserver's workers are not their main process's children), is reaped here at the end, so the children's rusage
# holds all their CPU time, and their largest peak RSS. /usr/bin/time counted only the processes the job waited for:
# shards' and verify's workers were left out.
_REAPER = """
import ctypes, json, os, resource, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
code = subprocess.call(sys.argv[1:])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print("BENCH " + json.dumps({"code": code, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}))
"""


def _timed(command: list[str], log: Path) -> dict:
    """One job in a fresh process: wall, CPU (user + system, all its processes) seconds and peak RSS (MiB, its
    largest process)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        subprocess.run([_PYTHON, "-c", _REAPER, *command], stdout=out, stderr=subprocess.STDOUT,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    lines = [text for text in log.read_text().splitlines() if text.startswith("BENCH ")]
    figures = json.loads(lines[-1][len("BENCH "):]) if lines else {"code": "no report"}
    if figures["code"]:
        raise SystemExit(f"{' '.join(command)} failed ({figures['code']}); see {log}")
    return {"wall_s": wall, "cpu_s": figures["cpu_s"], "rss_mib": figures["rss_kib"] / 1024}


def _job_code(job: str, arguments: list[str]) -> None:
    """The jobs that are Python calls rather than CLI commands (run by this script with --job, in a fresh
    process)."""
    import pyarrow.parquet as pq

    if job == "reference-walk":
        from interhand.config import LoaderConfig
        from interhand.loaders.reference import ReferenceDataset, ShardReader
        from interhand.loaders.shard_list import shard_list

        shards = shard_list(Path(arguments[0]))
        dataset, reader = ReferenceDataset(shards, LoaderConfig(augment=False)), ShardReader(shards)
        walked = 0
        for indices in dataset.index_batches(64):
            tars = np.searchsorted(reader.starts, indices, side="right") - 1
            for index, tar in zip(indices.tolist(), tars.tolist()):
                entries, _ = reader._tar(tar)
                walked += bool(entries.sample(index - int(reader.starts[tar]))[0])
        assert walked == shards.total, (walked, shards.total)
    elif job == "dali-start":
        from interhand.config import LoaderConfig
        from interhand.loaders.build import build_loader

        loader = build_loader(Path(arguments[0]), LoaderConfig(backend="dali", device="cpu", augment=False,
                                                               batch_size=64))
        assert len(loader) > 0
    elif job == "read-columns":  # the pyarrow baseline: the named columns of each file, as numpy
        from interhand.manifests.read import column_numpy

        for path, columns in zip(arguments[0::2], arguments[1::2]):
            table = pq.read_table(path, columns=columns.split(",") if columns else None)
            for name in table.column_names:
                column_numpy(table[name])
    elif job == "predictions":
        _write_prediction_files(Path(arguments[0]), Path(arguments[1]))
    else:
        raise SystemExit(f"unknown job {job}")


def _write_prediction_files(test_dir: Path, out: Path) -> None:
    """The test split's ground truth + 5 mm noise in the forms eval does not write (camera, camera_relative,
    image_depth); eval's own predictions.parquet is the image_relative one."""
    from interhand.eval.predictions import PredictionFile, write_predictions
    from interhand.eval.score_file import read_rows
    from interhand.skeleton import block_root_index

    out.mkdir(parents=True, exist_ok=True)
    rows = read_rows(test_dir)
    rng = np.random.default_rng(0)
    joints = rows["joints_cam_mm"] + rng.normal(0, 5, rows["joints_cam_mm"].shape)
    joints[..., 2] = np.maximum(joints[..., 2], 100.0)
    own = block_root_index(rows["root_joint_index"].astype(np.int64))
    relative = joints - np.take_along_axis(joints, own[..., None], axis=1)
    uv = joints[..., :2] / joints[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    metadata = {"dataset": "interhand26m", "split": "test", "annot_subset": "all"}
    keys = list(rows["key"])
    forms = {"camera": {"joints_cam_mm": joints},
             "camera_relative": {"joints_cam_rel_mm": relative, "rel_root_cam_mm": joints[:, 41] - joints[:, 20]},
             "image_depth": {"joints_img_px": uv, "joints_depth_mm": joints[..., 2]}}
    for form, arrays in forms.items():
        write_predictions(out / f"{form}.parquet", PredictionFile("", {**metadata, "name": form}, keys, None, arrays,
                                                                  form))


def _jobs(work: Path, workers: int) -> list[tuple[str, str, list[str]]]:
    """(name, what N counts, command) in run order."""
    root, shards, run_dir, predictions = work / "InterHand2.6M", work / "shards", work / "run", work / "predictions"
    split = shards / "interhand26m" / "all"
    me = [_PYTHON, str(Path(__file__).resolve()), "--job"]
    ih = [_PYTHON, "-m", "interhand"]
    mean_pose = run_dir / "result" / "interhand26m_all_test_rootnet_mean_pose"
    score_columns = ("key,annotation_id,joints_cam_mm,joints_img,joint_valid,hand_type,hand_type_valid,focal,princpt,"
                     "abs_depth_gt_mm,rootnet_abs_depth_mm,root_joint_index,shard,image_offset,image_size,capture,"
                     "camera,frame_idx")
    jobs = [(f"shards {s}", s, [*ih, "shards", "--data", str(root), "--out", str(shards), "--split", s,
                                "--workers", str(workers), "--no-progress"]) for s in SPLIT_SIZES]
    jobs += [
        ("verify (3 splits)", "all", [*ih, "verify", str(shards), "--workers", str(workers)]),
        ("reference loader walk", "train", [*me, "reference-walk", str(split / "train")]),
        ("DALI CPU loader start", "train", [*me, "dali-start", str(split / "train")]),
        ("pyarrow: mean-pose columns", "train+test",
         [*me, "read-columns", str(split / "train" / "manifest.parquet"),
          "joints_cam_mm,joint_valid,root_joint_index,hand_type,hand_type_valid",
          str(split / "test" / "manifest.parquet"), score_columns]),
        ("eval --baseline mean-pose", "train+test", [*ih, "eval", "--baseline", "mean-pose", "--split", "test",
                                                     "--shards", str(shards), "--run-dir", str(run_dir), "--vis", "0"]),
        ("write prediction files", "test", [*me, "predictions", str(split / "test"), str(predictions)]),
    ]
    for form, path in (("image_relative", mean_pose / "predictions.parquet"),
                       *((f, predictions / f"{f}.parquet") for f in ("camera", "camera_relative", "image_depth"))):
        jobs.append((f"pyarrow: score columns, {form}", "test",
                     [*me, "read-columns", str(split / "test" / "manifest.parquet"), score_columns, str(path), ""]))
        jobs.append((f"score {form}", "test", [*ih, "score", str(path), "--shards", str(shards), "--vis", "0",
                                               "--out-dir", str(work / "scores" / form)]))
    jobs.append(("compare", "test", [*ih, "compare", str(run_dir)]))
    return jobs


def _count(sizes: dict[str, int], counted: str) -> int:
    if counted == "all":
        return sum(sizes.values())
    return sum(sizes[part] for part in counted.split("+"))


def _run_scale(work: Path, scale: Fraction, fps30: bool, workers: int) -> dict:
    sizes = {split: max(1, round(size * scale * (6 if fps30 else 1))) for split, size in SPLIT_SIZES.items()}
    start = time.perf_counter()
    write_dataset(work / "InterHand2.6M", sizes, processes=workers)
    generated = time.perf_counter() - start
    disk = sum(p.stat().st_size for p in (work / "InterHand2.6M").rglob("*") if p.is_file())
    print(f"scale {scale}: wrote {sum(sizes.values()):,} samples ({disk / 2**20:.0f} MiB) in {generated:.0f} s",
          flush=True)
    figures = {}
    for name, counted, command in _jobs(work, workers):
        figures[name] = {"n": _count(sizes, counted), **_timed(command, work / "job.log")}
        print(f"  {name:<36} {figures[name]['wall_s']:8.1f} s {figures[name]['rss_mib']:8.0f} MiB", flush=True)
    shard_bytes = sum(p.stat().st_size for p in (work / "shards").rglob("*") if p.is_file())
    total = time.perf_counter() - start
    print(f"scale {scale}: generation and every job in {total / 60:.1f} min", flush=True)
    return {"scale": str(scale), "sizes": sizes, "generate_s": generated, "total_s": total,
            "dataset_mib": disk / 2**20, "shards_mib": shard_bytes / 2**20, "jobs": figures}


# --- the report ----------------------------------------------------------------------------------------------

def _slope(ns: list[int], values: list[float]) -> float | None:
    """The log-log slope of value against N over the scales run (1: linear); None with fewer than two sizes."""
    if len(set(ns)) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(np.maximum(values, 1e-3)), 1)[0])


def _linear(ns: list[int], values: list[float], n: int) -> float:
    """The value at `n` on the line through the two largest scales: start-up + a cost per sample. At these small
    scales start-up dominates, so a power law fitted to them would predict too little (its slope is < 1)."""
    per_sample = max(0.0, (values[-1] - values[-2]) / (ns[-1] - ns[-2]))
    return values[-1] + per_sample * (n - ns[-1])


def _summary(runs: list[dict]) -> dict:
    full = {name: _count(SPLIT_SIZES, counted) for name, counted, _ in _jobs(Path("."), 1)}
    summary = {}
    for name in runs[0]["jobs"]:
        ns = [run["jobs"][name]["n"] for run in runs]
        entry = {"n": ns}
        for measure in ("wall_s", "cpu_s", "rss_mib"):
            values = [run["jobs"][name][measure] for run in runs]
            entry[measure] = values
            if len(set(ns)) > 1:
                entry[f"{measure}_slope"] = _slope(ns, values)
                entry[f"{measure}_full"] = _linear(ns, values, full[name])
                entry[f"{measure}_30fps"] = _linear(ns, values, 6 * full[name])
        summary[name] = entry
    return summary


def _ratios(runs: list[dict]) -> dict:
    """The largest scale's mean-pose and score times over their pyarrow column reads (goal ≤ 2)."""
    jobs = runs[-1]["jobs"]
    ratios = {"eval --baseline mean-pose": jobs["eval --baseline mean-pose"]["wall_s"]
              / jobs["pyarrow: mean-pose columns"]["wall_s"]}
    for form in ("image_relative", "camera", "camera_relative", "image_depth"):
        ratios[f"score {form}"] = jobs[f"score {form}"]["wall_s"] / jobs[f"pyarrow: score columns, {form}"]["wall_s"]
    return ratios


def _print(runs: list[dict], summary: dict, ratios: dict) -> None:
    scales = [run["scale"] for run in runs]
    head = "".join(f"{'wall s @' + s:>13}{'MiB @' + s:>12}" for s in scales)
    print(f"\n{'job':<36}{head}{'slope t':>9}{'slope RSS':>10}{'full: s':>10}{'full: MiB':>11}{'30fps: s':>10}"
          f"{'30fps: MiB':>11}")
    for name, entry in summary.items():
        cells = "".join(f"{w:13.1f}{r:12.0f}" for w, r in zip(entry["wall_s"], entry["rss_mib"]))
        if "wall_s_slope" in entry:
            cells += (f"{entry['wall_s_slope']:9.2f}{entry['rss_mib_slope']:10.2f}{entry['wall_s_full']:10.0f}"
                      f"{entry['rss_mib_full']:11.0f}{entry['wall_s_30fps']:10.0f}{entry['rss_mib_30fps']:11.0f}")
        print(f"{name:<36}{cells}")
    for run in runs:
        total = f", generation and every job {run['total_s'] / 60:.1f} min" if "total_s" in run else ""
        print(f"scale {run['scale']}: {sum(run['sizes'].values()):,} samples, generated in {run['generate_s']:.0f} s"
              f"{total}")
    print("\nat the largest scale, time over the pyarrow read of the same columns (goal <= 2): "
          + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items()))
    print(f"full-size figures are {'measured' if runs[-1]['scale'] == '1' else 'extrapolated'} on the line through "
          f"the two largest scales (start-up + per sample); "
          f"peak RSS is the job's largest process; machine: {machine_description()}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--job":
        _job_code(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="1/64,1/16", help="fractions of the real split sizes, comma-separated")
    parser.add_argument("--fps30", action="store_true", help="the 30 fps release: six times the frames")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for the generator, `interhand shards` and `verify` (--workers)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--report", type=Path, help="re-render the table from a saved run's JSON line (its last line)")
    parser.add_argument("--markdown", action="store_true", help="with --report: docs/benchmarks.md's table")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text().strip().splitlines()[-1])
        print(markdown_table(saved), end="") if args.markdown else _report(saved["runs"], saved["fps30"])
        return
    scales = [Fraction(s) for s in args.scale.split(",")]
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    runs = []
    try:
        for scale in scales:
            work = base / f"scale_{scale.numerator}_{scale.denominator}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            runs.append(_run_scale(work, scale, args.fps30, args.workers))
            if not args.keep:
                shutil.rmtree(work)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    _report(runs, args.fps30)


def markdown_table(saved: dict) -> str:
    """docs/benchmarks.md's full-size table, rendered from a saved run's JSON line (a test compares the two)."""
    runs = saved["runs"]
    summary, scales = _summary(runs), [run["scale"] for run in runs]
    several = len(set(scales)) > 1
    lines = [f"| job | N at {scales[-1]} | wall s, {' / '.join(scales)} | CPU s at {scales[-1]} | peak RSS MiB, "
             f"{' / '.join(scales)} | log-log slope, time / RSS | 30 fps: s | 30 fps: MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for name, entry in summary.items():
        slope = f"{entry['wall_s_slope']:.2f} / {entry['rss_mib_slope']:.2f}" if several else "–"
        fps30 = (f"{entry['wall_s_30fps']:,.0f} | {entry['rss_mib_30fps']:,.0f}" if several else "– | –")
        lines.append(f"| {name} | {entry['n'][-1]:,} | {' / '.join(f'{value:,.1f}' for value in entry['wall_s'])} | "
                     f"{entry['cpu_s'][-1]:,.1f} | {' / '.join(f'{value:,.0f}' for value in entry['rss_mib'])} | "
                     f"{slope} | {fps30} |")
    return "\n".join(lines) + "\n"


def _report(runs: list[dict], fps30: bool) -> None:
    summary, ratios = _summary(runs), _ratios(runs)
    _print(runs, summary, ratios)
    goals = {name: {"rss_full_within_4gib": entry.get("rss_mib_full", entry["rss_mib"][-1]) <= _GOAL_RSS_MIB,
                    "linear": entry.get("wall_s_slope", 1.0) <= _GOAL_SLOPE} for name, entry in summary.items()}
    print(json.dumps({"scales": [run["scale"] for run in runs], "fps30": fps30, "runs": runs,
                      "summary": summary, "ratios_to_pyarrow": ratios, "goals": goals,
                      "machine": machine_description()}))


if __name__ == "__main__":
    main()
