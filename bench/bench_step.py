"""Benchmark: what the training loop reads back to the host per step, and its time per step.

On a GPU every read of a device value (`float(loss)`, `.item()`, `.tolist()`) waits until the GPU has finished
the work queued before it, so the host cannot prepare the next batch while the GPU computes: the loop should
read nothing per step. This counts those reads in `interhand.train.loop.train_one_epoch` itself, on the CPU (the
count does not depend on the device): `aten._local_scalar_dense` (what float(), .item() and bool() of a tensor
dispatch to) under a TorchDispatchMode, but not of Adam's step counters (on the CPU in a GPU run too), the ops
whose output size depends on the data (nonzero, masked_select, unique: boolean indexing), and every
`Tensor.tolist()` call. The loop runs a small InterNet on
in-memory batches (no loader), for `--steps` steps at --log-every 1 and at `--log-every` (default 16); it also
times the two, interleaved, median of `--rounds` (on a CPU the reads cost nothing: the times should agree).

Run against another commit's loop to get its "before" figures (same script):
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/bench_step.py
Prints a table and, last, one JSON line with the figures and the machine.

    .venv/bin/python bench/bench_step.py [--steps 32] [--log-every 16] [--rounds 3] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import interhand
from interhand.config import ModelConfig
from interhand.loaders.batch import Batch
from interhand.model import build_internet
from interhand.runtime.ddp import DistContext
from interhand.train.log import RunLog
from interhand.train.loop import LoopSettings, train_one_epoch

from common import machine_description

MODEL = ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)


_SIZE_FROM_DATA = {torch.ops.aten.nonzero.default, torch.ops.aten.masked_select.default,
                   torch.ops.aten.unique_dim.default, torch.ops.aten._unique2.default}


class _HostReads(TorchDispatchMode):
    """Counts the dispatched scalar reads (`Tensor.tolist` is counted by a patch in `_epoch`), except those of
    Adam's step counters: torch keeps them on the CPU in a GPU run too (not capturable), so reading them waits
    for nothing."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        super().__init__()
        self.optimizer, self.count = optimizer, 0

    def __torch_dispatch__(self, function, types, args=(), kwargs=None):
        if function in _SIZE_FROM_DATA:  # boolean indexing and friends: the output's size is read back
            self.count += 1
        elif function is torch.ops.aten._local_scalar_dense.default:
            counters = {state["step"].data_ptr() for state in self.optimizer.state.values() if "step" in state}
            self.count += args[0].data_ptr() not in counters
        return function(*args, **(kwargs or {}))


class _Batches:
    """A ShardLoader over fixed in-memory batches (targets inside the voxel grid, every joint valid)."""

    backend, device = "memory", "cpu"

    def __init__(self, count: int, batch_size: int):
        generator = torch.Generator().manual_seed(0)
        size, grid = MODEL.input_size, MODEL.heatmap_size
        self.batches = [Batch(torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8,
                                            generator=generator),
                              torch.rand(batch_size, 42, 3, generator=generator) * (grid - 1),
                              torch.ones(batch_size, 42),
                              torch.zeros(batch_size, 1), torch.ones(batch_size, 1),
                              torch.tensor([[1.0, 0.0]] * batch_size), torch.ones(batch_size, 1),
                              torch.zeros(batch_size, 2, 3), torch.ones(batch_size, 3), ("",) * batch_size)
                        for _ in range(count)]

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        pass

    def iter_from(self, start: int):
        return iter(self.batches[start:])

    def __iter__(self):
        return self.iter_from(0)


def _settings(steps: int, log_every: int) -> LoopSettings:
    values = {"epoch": 0, "lr": 1e-4, "sigma": MODEL.sigma, "heatmap_loss": "lean", "log_every": log_every,
              "steps_per_epoch": steps}
    names = {f.name for f in fields(LoopSettings)}
    return LoopSettings(**{name: value for name, value in values.items() if name in names})


def _epoch(loader: _Batches, log_every: int, log_dir: Path) -> tuple[int, float]:
    """(host reads, seconds) of one epoch of `len(loader)` steps."""
    torch.manual_seed(0)
    model = build_internet(MODEL)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    context = DistContext(0, 1, 0, torch.device("cpu"))
    tolist = torch.Tensor.tolist
    reads = _HostReads(optimizer)
    calls = {"tolist": 0}

    def counted_tolist(self, *args, **kwargs):
        calls["tolist"] += 1
        return tolist(self, *args, **kwargs)

    torch.Tensor.tolist = counted_tolist
    try:
        start = time.perf_counter()
        with reads:
            train_one_epoch(model, loader, optimizer, RunLog(log_dir, enabled=False), context,
                            _settings(len(loader), log_every))
        seconds = time.perf_counter() - start
    finally:
        torch.Tensor.tolist = tolist
    return reads.count + calls["tolist"], seconds


def _commit() -> str:
    folder = Path(interhand.__file__).resolve().parents[1]
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--log-every", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    loader = _Batches(args.steps, args.batch_size)
    cases = {"log every step": 1, f"log every {args.log_every} steps": args.log_every}
    reads: dict[str, int] = {}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for name, log_every in cases.items():
                count, seconds = _epoch(loader, log_every, Path(folder))
                reads[name] = count
                times[name].append(seconds / args.steps)
    commit = _commit()
    print(f"training loop of {interhand.__file__} (commit {commit}), ResNet-18 at {MODEL.input_size} px, batch "
          f"{args.batch_size}, {args.steps} steps, CPU; median of {args.rounds} interleaved rounds")
    print(f"{'case':<24} {'host reads':>11} {'per step':>9} {'ms per step':>12}")
    for name in cases:
        print(f"{name:<24} {reads[name]:>11} {reads[name] / args.steps:>9.3f} "
              f"{statistics.median(times[name]) * 1e3:>12.1f}")
    print(f"machine: {machine_description()}")
    print(json.dumps({"benchmark": "step", "commit": commit, "steps": args.steps, "batch_size": args.batch_size,
                      "host_reads": reads, "host_reads_per_step": {k: v / args.steps for k, v in reads.items()},
                      "ms_per_step": {k: statistics.median(v) * 1e3 for k, v in times.items()},
                      "machine": machine_description()}))


if __name__ == "__main__":
    main()
