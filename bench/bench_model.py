"""Benchmark: the lean heatmap loss against the dense reference, alone and inside a training step.

(a) heatmap loss forward+backward at batch B: lean vs dense (goals: ≥ 3× faster, ≤ 1/3 of the peak memory);
(b) a whole InterNet training step (forward, loss, backward, Adam): images/s and peak memory, lean vs dense
    (goal ≥ 1.5×). The original's own target rendering (meshgrid + exp over the full grid) is timed too,
    as a second baseline. On a GPU, (b) runs again on it with channels_last + bf16 autocast (+ torch.compile
    with --compile).

The variants of a benchmark are timed in one subprocess, interleaved round by round (this machine may be
shared; interference then hits all variants alike), and ratios use each variant's fastest run. Peak memory
is measured per variant in its own subprocess: on the CPU the peak resident set size above the step's
starting point (/proc/self/clear_refs resets the high-water mark; glibc is told to return every block
≥ 1 MiB to the OS on free, so RSS follows live tensors); on a GPU torch.cuda.max_memory_allocated.
Prints a table, the machine, and as its last line one JSON object with all figures and ratios.

    .venv/bin/python bench/bench_model.py [--batch-size 4] [--reps 3] [--loss-reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interhand.config import ModelConfig  # noqa: E402
from interhand.model import InterNet, internet_losses, joint_heatmap_loss, joint_heatmap_loss_dense  # noqa: E402
from interhand.model.internet import prepare_for_device  # noqa: E402
from interhand.skeleton import NUM_JOINTS  # noqa: E402
from interhand.train.loop import train_step  # noqa: E402

from common import machine_description  # noqa: E402

SIGMA = 2.5
VARIANTS = ("lean", "dense", "original")


def _original_heatmap_loss(heatmap, joints_voxel, joint_valid, sigma):
    """The original's way: meshgrid, exp over every voxel, dense squared error (baseline only)."""
    size = heatmap.shape[-1]
    grid = torch.arange(size, device=heatmap.device, dtype=torch.float32)
    zz, yy, xx = (axis[None, None] for axis in torch.meshgrid(grid, grid, grid, indexing="ij"))
    x, y, z = (joints_voxel[:, :, axis, None, None, None] for axis in range(3))
    target = torch.exp(-((xx - x) / sigma) ** 2 / 2 - ((yy - y) / sigma) ** 2 / 2 - ((zz - z) / sigma) ** 2 / 2) * 255
    return ((heatmap.float() - target) ** 2 * joint_valid[:, :, None, None, None]).mean()


HEATMAP_LOSS = {"lean": joint_heatmap_loss, "dense": joint_heatmap_loss_dense, "original": _original_heatmap_loss}


# ----------------------------------------------------------------------------------------------- memory
def _proc_status_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


class _PeakMemory:
    """Peak bytes above the starting point: CUDA allocator stats, or RSS high-water mark on the CPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.start = _proc_status_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_total = torch.cuda.max_memory_allocated()
        else:
            self.peak_total = _proc_status_kib("VmHWM") * 1024
        self.peak_extra = self.peak_total - self.start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(function, reps: int, device: torch.device) -> list[float]:
    times = []
    for _ in range(reps):
        _synchronize(device)
        start = time.perf_counter()
        function()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return times


# ------------------------------------------------------------------------------------------------ cases
def _random_targets(batch: int, size: int, device: torch.device, generator: torch.Generator) -> dict:
    return {
        "joints_voxel": (torch.rand(batch, NUM_JOINTS, 3, generator=generator) * (size - 1)).to(device),
        "joint_valid": (torch.rand(batch, NUM_JOINTS, generator=generator) > 0.1).float().to(device),
        "rel_root_depth_bins": (torch.rand(batch, 1, generator=generator) * size).to(device),
        "root_valid": torch.ones(batch, 1, device=device),
        "hand_type": torch.tensor([[1.0, 1.0]] * batch, device=device),
        "hand_type_valid": torch.ones(batch, device=device),
    }


def _loss_steps(variants: list[str], batch: int, device: torch.device, args) -> dict:
    generator = torch.Generator().manual_seed(0)
    heatmap = (torch.randn(batch, NUM_JOINTS, 64, 64, 64, generator=generator) * 10).to(device).requires_grad_()
    targets = _random_targets(batch, 64, device, generator)

    def make_step(loss_function):
        def step():
            loss_function(heatmap, targets["joints_voxel"], targets["joint_valid"], SIGMA).backward()
            heatmap.grad = None
        return step

    return {variant: make_step(HEATMAP_LOSS[variant]) for variant in variants}


def _train_steps(variants: list[str], batch: int, device: torch.device, args) -> dict:
    # One network and optimizer for all variants: they differ only in the heatmap loss.
    gpu = device.type == "cuda"
    config = ModelConfig(resnet_type=args.resnet_type, channels_last=gpu, amp=gpu, compile=gpu and args.compile)
    torch.manual_seed(0)
    model = InterNet(config)
    network = prepare_for_device(model, device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, 256, 256, generator=generator).to(device)
    targets = _random_targets(batch, 64, device, generator)

    def make_step(variant):
        def loss_terms(output):
            losses = internet_losses(output, targets, SIGMA, "lean" if variant == "lean" else "dense")
            if variant == "original":
                losses["joint_heatmap"] = _original_heatmap_loss(output["joint_heatmap"], targets["joints_voxel"],
                                                                 targets["joint_valid"], SIGMA)
            return losses

        return lambda: train_step(network, optimizer, images, loss_terms)

    return {variant: make_step(variant) for variant in variants}


def run_case(kind: str, variants: list[str], device: torch.device, purpose: str, args) -> dict:
    """Time the variants interleaved (round after round, so that load from other processes hits all alike),
    or measure the peak memory of one step of a single variant."""
    steps = (_loss_steps if kind == "loss" else _train_steps)(variants, args.batch_size, device, args)
    for variant in variants:
        for _ in range(args.warmup + (2 if device.type == "cuda" and args.compile and kind == "step" else 0)):
            steps[variant]()
    if purpose == "memory":
        (variant,) = variants
        with _PeakMemory(device) as memory:
            steps[variant]()
        return {"peak_extra_bytes": memory.peak_extra, "peak_total_bytes": memory.peak_total}
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(args.reps):
        for variant in variants:
            times[variant] += _timed(steps[variant], 1, device)
    return {variant: {"times": values} for variant, values in times.items()}


def _subprocess(kind: str, variants: list[str], device: str, purpose: str, args, batch: int, reps: int) -> dict:
    # For memory runs glibc returns every block ≥ 1 MiB to the OS on free, so that RSS follows live tensors
    # (otherwise freed blocks below 32 MiB stay resident and the peak depends on allocation history).
    # That costs page faults, hence separate runs for timing (default allocator) and memory.
    environment = dict(os.environ, **({"MALLOC_MMAP_THRESHOLD_": "1048576"} if purpose == "memory" else {}))
    command = [sys.executable, __file__, "--case", f"{purpose}:{kind}:{','.join(variants)}:{device}",
               "--batch-size", str(batch), "--reps", str(reps), "--warmup", str(args.warmup),
               "--resnet-type", str(args.resnet_type)] + (["--compile"] if args.compile else [])
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"case {purpose}:{kind}:{variants}:{device} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(kind: str, variants: list[str], device: str, args) -> dict:
    """Per variant: times (interleaved, one process), min and median seconds, peak memory (own process)."""
    batch = args.gpu_batch_size if device == "cuda" and kind == "step" else args.batch_size
    reps = args.loss_reps if kind == "loss" else args.reps
    rows = _subprocess(kind, variants, device, "time", args, batch, reps)
    for variant, row in rows.items():
        row["seconds"] = min(row["times"])
        row["median_seconds"] = statistics.median(row["times"])
        if kind == "step":
            row["images_per_s"] = batch / row["seconds"]
        row.update(_subprocess(kind, [variant], device, "memory", args, batch, 1))
    return rows


# ----------------------------------------------------------------------------------------------- report
def _mb(value: int) -> float:
    return round(value / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=4, help="CPU batch size (loss and step)")
    parser.add_argument("--gpu-batch-size", type=int, default=16, help="GPU training-step batch size")
    parser.add_argument("--reps", type=int, default=3, help="timed training steps per variant")
    parser.add_argument("--loss-reps", type=int, default=5, help="timed loss forward+backward per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (Adam state, allocator)")
    parser.add_argument("--resnet-type", type=int, default=50)
    parser.add_argument("--compile", action="store_true", help="GPU only: torch.compile the network")
    parser.add_argument("--skip-step", action="store_true", help="only the loss benchmark (a)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        purpose, kind, variants, device = args.case.split(":")
        print(json.dumps(run_case(kind, variants.split(","), torch.device(device), purpose, args)))
        return

    results: dict = {"machine": machine_description(), "batch_size": args.batch_size, "resnet_type": args.resnet_type,
                     "loss": {}, "step": {}, "gpu_step": {}}
    results["loss"] = measure("loss", list(VARIANTS), "cpu", args)
    if not args.skip_step:
        results["step"] = measure("step", list(VARIANTS), "cpu", args)
        if torch.cuda.is_available():
            results["gpu_step"] = measure("step", ["lean", "dense"], "cuda", args)
    results["ratios"], results["goals"] = _ratios(results)
    _print_table(results)
    print(json.dumps(results))


def _ratios(results: dict) -> tuple[dict, dict]:
    ratios = {}
    loss = results["loss"]
    ratios["loss_speedup_lean_vs_dense"] = loss["dense"]["seconds"] / loss["lean"]["seconds"]
    ratios["loss_peak_memory_lean_over_dense"] = loss["lean"]["peak_extra_bytes"] / loss["dense"]["peak_extra_bytes"]
    ratios["loss_speedup_lean_vs_original"] = loss["original"]["seconds"] / loss["lean"]["seconds"]
    for prefix, table in (("step", results["step"]), ("gpu_step", results["gpu_step"])):
        if table:
            ratios[f"{prefix}_speedup_lean_vs_dense"] = table["dense"]["seconds"] / table["lean"]["seconds"]
            ratios[f"{prefix}_peak_memory_lean_over_dense"] = (table["lean"]["peak_extra_bytes"]
                                                              / table["dense"]["peak_extra_bytes"])
            if "original" in table:
                ratios[f"{prefix}_speedup_lean_vs_original"] = table["original"]["seconds"] / table["lean"]["seconds"]
    goals = {"loss_speedup >= 3": ratios["loss_speedup_lean_vs_dense"] >= 3,
             "loss_peak_memory <= 1/3": ratios["loss_peak_memory_lean_over_dense"] <= 1 / 3}
    if "step_speedup_lean_vs_dense" in ratios:
        goals["step_speedup >= 1.5"] = ratios["step_speedup_lean_vs_dense"] >= 1.5
    return {key: round(value, 3) for key, value in ratios.items()}, goals


def _print_table(results: dict) -> None:
    print(f"machine: {results['machine']}")
    print(f"batch {results['batch_size']}, ResNet-{results['resnet_type']}; variants timed interleaved, ratios "
          "from the min; peak = memory above the step's starting point (CPU: RSS high-water mark)\n")
    header = (f"{'benchmark':<34}{'variant':<10}{'min s':>8}{'median s':>10}{'images/s':>10}{'peak MB':>10}"
              f"{'total MB':>10}")
    print(header)
    print("-" * len(header))
    for title, table in (("(a) heatmap loss fwd+bwd (CPU)", results["loss"]),
                         ("(b) training step (CPU)", results["step"]),
                         ("(b) training step (GPU)", results["gpu_step"])):
        for variant, row in table.items():
            rate = f"{row['images_per_s']:.2f}" if "images_per_s" in row else "-"
            print(f"{title:<34}{variant:<10}{row['seconds']:>8.3f}{row['median_seconds']:>10.3f}{rate:>10}"
                  f"{_mb(row['peak_extra_bytes']):>10}"
                  f"{_mb(row['peak_total_bytes']):>10}")
    print()
    for key, value in results["ratios"].items():
        print(f"{key:<44}{value:>8}")
    for goal, met in results["goals"].items():
        print(f"goal {goal:<39}{'met' if met else 'NOT met':>8}")


if __name__ == "__main__":
    main()
