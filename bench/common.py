"""Shared by the benchmarks: the one description of the machine they ran on."""

from __future__ import annotations

import os
import platform
import sys


def _proc_field(path: str, name: str) -> str | None:
    try:
        with open(path) as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith(name)), None)
    except OSError:
        return None


def machine_description() -> str:
    """OS, CPU model, cores, RAM, Python; torch's version, threads and GPU when the benchmark imported torch."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory_kib = _proc_field("/proc/meminfo", "MemTotal")
    memory = f", {int(memory_kib.split()[0]) / 2**20:.0f} GiB RAM" if memory_kib else ""
    text = (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical cores{memory}, "
            f"Python {platform.python_version()}")
    torch = sys.modules.get("torch")
    if torch is not None:
        text += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
        if torch.cuda.is_available():
            text += f", GPU {torch.cuda.get_device_name(0)}"
    return text
