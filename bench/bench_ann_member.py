"""Benchmark: what storing the `.ann` record as a `.npy` member would cost the DALI webdataset reader.

Hugging Face `datasets` returns a binary member as `numpy.bytes_` under `with_format("numpy")`, which drops
trailing zero bytes; a `.npy` member (np.save of the same (ANN_FLOATS,) float32 array: a 128-byte header, then the
same ANN_BYTES bytes; 631 and 2524 in format version 4) would survive that. The same synthetic InterHand2.6M val
split is written once by `interhand shards` and copied with every `.ann` member replaced by its `.npy` (and a new
DALI index); then, on the CPU (`device_id=None`, as the CPU twin of the training pipeline), interleaved rounds of:
  (1) `.ann` read as FLOAT: the record as the training pipeline reads it (the baseline);
  (2) `.npy` through `fn.decoders.numpy` (the member read as UINT8, then parsed);
  (3) `.npy` read as FLOAT, sliced past the 32-float header;
each once with the record alone (the reader's own cost) and once beside the JPEG decoded on the CPU (what a
loader pays per sample). Ratios are against (1) of the same round; the median of the rounds is reported.

Usage: python bench/bench_ann_member.py [--frames 64] [--rounds 5] [--batch-size 32] [--threads 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from interhand.config import PreprocessConfig, SynthConfig
from interhand.preprocess.run import run as shards_run
from interhand.preprocess.run import shard_dir
from interhand.preprocess.tar_writer import TarWriter
from interhand.shard_format.ann_codec import ANN_DTYPE, ANN_FLOATS
from interhand.shard_format.dali_index import dali_index_text
from interhand.shard_format.names import DATASET_FILE, index_name
from interhand.synth.run import run as synth_run

from common import machine_description

NPY_HEADER_FLOATS = 32  # np.save's header for a (ANN_FLOATS,) float32 array: 128 bytes


def npy_bytes(ann: bytes) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(ann, ANN_DTYPE))
    return buffer.getvalue()


def copy_with_npy(source: Path, target: Path) -> list[Path]:
    """Every shard of `source` with its `.ann` members replaced by `.npy` ones, plus DALI indexes; the tars."""
    target.mkdir(parents=True)
    tars = []
    for tar in sorted(source.glob("*.tar")):
        entries: dict[str, list[tuple[str, bytes]]] = {}
        with tarfile.open(tar) as archive:
            for member in archive.getmembers():
                key, ext = member.name.split(".", 1)
                data = archive.extractfile(member).read()
                entries.setdefault(key, []).append(("npy", npy_bytes(data)) if ext == "ann" else (ext, data))
        index = []
        with open(target / tar.name, "wb") as handle:
            writer = TarWriter(handle)
            for key, members in entries.items():
                members = sorted(members)
                offsets = writer.add_files([(f"{key}.{ext}", data) for ext, data in members])
                index.append((key, [(ext, offset, len(data)) for (ext, data), offset in zip(members, offsets)]))
            writer.close()
        (target / index_name(tar.name)).write_text(dali_index_text(index))
        tars.append(target / tar.name)
    return tars


def build(tars: list[Path], variant: str, with_image: bool, batch_size: int, threads: int):
    from nvidia.dali import fn, pipeline_def, types

    member = "ann" if variant == "ann" else "npy"
    record_type = types.UINT8 if variant == "npy-decoder" else types.FLOAT

    @pipeline_def(batch_size=batch_size, num_threads=threads, device_id=None, prefetch_queue_depth=2)
    def pipeline():
        outputs = fn.readers.webdataset(
            paths=[str(t) for t in tars], index_paths=[str(t.parent / index_name(t.name)) for t in tars],
            ext=(["jpg"] if with_image else []) + [member],
            dtypes=([types.UINT8] if with_image else []) + [record_type],
            missing_component_behavior="error", name="Reader")
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        record = outputs[-1]
        if variant == "npy-decoder":
            record = fn.decoders.numpy(record)
        elif variant == "npy-slice":
            record = record[NPY_HEADER_FLOATS:]
        if with_image:
            return fn.decoders.image(outputs[0], device="cpu"), record
        return record

    pipe = pipeline()
    pipe.build()
    return pipe


def samples_per_second(pipe, samples: int, batch_size: int, epochs: int) -> tuple[float, np.ndarray]:
    batches = -(-samples // batch_size) * epochs
    start = time.perf_counter()
    for _ in range(batches):
        outputs = pipe.run()
    elapsed = time.perf_counter() - start
    record = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
    return batches * batch_size / elapsed, np.asarray(record.at(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="passes over the split per timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synth_run(SynthConfig(dataset="interhand26m", seed=0, frames=args.frames, captures=2, cameras=4),
                  tmp / "data", show_progress=False)
        config = PreprocessConfig(data=str(tmp / "data"), shards=str(tmp / "shards"), split="val", progress=False,
                                  shard_samples=64)
        shards_run(config)
        ann_dir = shard_dir(config)
        samples = json.loads((ann_dir / DATASET_FILE).read_text())["counts"]["samples"]
        tars = {"ann": sorted(ann_dir.glob("*.tar"))}
        tars["npy-decoder"] = tars["npy-slice"] = copy_with_npy(ann_dir, tmp / "npy")
        variants = ("ann", "npy-decoder", "npy-slice")
        rates: dict[tuple[str, bool], list[float]] = {}
        ratios: dict[tuple[str, bool], list[float]] = {}
        for with_image in (False, True):
            pipes = {v: build(tars[v], v, with_image, args.batch_size, args.threads) for v in variants}
            first = {}
            for v in variants:  # warm-up, and the three read the same first record
                _, first[v] = samples_per_second(pipes[v], samples, args.batch_size, 1)
                assert first[v].size == ANN_FLOATS and np.array_equal(first[v].view(np.uint32),
                                                                       first["ann"].view(np.uint32)), v
            for _ in range(args.rounds):
                this_round = {v: samples_per_second(pipes[v], samples, args.batch_size, args.epochs)[0]
                              for v in variants}
                for v in variants:
                    rates.setdefault((v, with_image), []).append(this_round[v])
                    ratios.setdefault((v, with_image), []).append(this_round[v] / this_round["ann"])
            del pipes
    print(f"machine: {machine_description()}")
    print(f"{samples} samples (synthetic InterHand2.6M val), batch {args.batch_size}, "
          f"{args.threads} threads, {args.rounds} interleaved rounds of {args.epochs} epochs, median; DALI on the CPU")
    print(f"{'record member':<34}{'record only, samples/s':>24}{'ratio':>8}"
          f"{'+ JPEG decode, samples/s':>27}{'ratio':>8}")
    result = {"machine": machine_description(), "samples": samples}
    for v, label in zip(variants, ("(1) .ann as FLOAT (baseline)", "(2) .npy + fn.decoders.numpy",
                                   "(3) .npy as FLOAT, sliced [32:]")):
        row = [statistics.median(rates[(v, w)]) for w in (False, True)]
        ratio = [statistics.median(ratios[(v, w)]) for w in (False, True)]
        print(f"{label:<34}{row[0]:>24,.0f}{ratio[0]:>7.2f}x{row[1]:>27,.0f}{ratio[1]:>7.2f}x")
        result[v] = {"record_only_per_s": round(row[0]), "record_only_ratio": round(ratio[0], 3),
                     "with_jpeg_per_s": round(row[1]), "with_jpeg_ratio": round(ratio[1], 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
