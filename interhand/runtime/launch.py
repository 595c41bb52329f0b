"""Start a job (training, evaluation) on torchrun: one process per listed GPU, or N CPU processes with gloo.

`--gpu 0-3` → CUDA_VISIBLE_DEVICES=0,1,2,3 and `torchrun --nproc_per_node=4`; each process runs on its
LOCAL_RANK's GPU with NCCL. Without --gpu, N processes use gloo (what the tests run). Several nodes:
the same command on each node with `nnodes`, `node_rank`, `master_addr` and `master_port` (torchrun's
own rendezvous). Every process runs `python -m interhand.runtime.worker JOB CONFIG.yaml`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from interhand.config import config_to_dict
from interhand.runtime.gpus import check_gpus_exist, parse_gpus

__all__ = ["Rendezvous", "torchrun_command", "gpu_environment", "processes_for", "start_workers"]


@dataclass(frozen=True)
class Rendezvous:
    """torchrun's multi-node arguments (defaults: one node)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500


def torchrun_command(processes: int, module: str, config_path: str, rendezvous: Rendezvous,
                     job: str | None = None) -> list[str]:
    """`python -m torch.distributed.run ... -m <module> [<job>] <config_path>` (one process per GPU).

    One node: torchrun's --standalone rendezvous picks a free local port, so runs never collide.
    """
    if rendezvous.nnodes == 1:
        placement = ["--standalone"]
    else:
        placement = [f"--nnodes={rendezvous.nnodes}", f"--node_rank={rendezvous.node_rank}",
                     f"--master_addr={rendezvous.master_addr}", f"--master_port={rendezvous.master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", *placement,
            "-m", module, *([job] if job else []), config_path]


def gpu_environment(gpu: str) -> tuple[dict, int]:
    """The environment for torchrun with CUDA_VISIBLE_DEVICES set from `--gpu`, and the process count."""
    gpus = parse_gpus(gpu)
    check_gpus_exist(gpus, torch.cuda.device_count())
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(index) for index in gpus)}, len(gpus)


def processes_for(gpu: str, cpu_processes: int) -> tuple[dict, int]:
    """The workers' environment and count: one per GPU of `--gpu` (checked to exist), else `cpu_processes`."""
    return gpu_environment(gpu) if gpu else (dict(os.environ), cpu_processes)


def start_workers(job: str, config, environment: dict, processes: int, rendezvous: Rendezvous = Rendezvous(),
                  config_path: Path | None = None) -> int:
    """Run `job` (a module with `CONFIG_TYPE` and `run(config)`, see runtime/worker.py) on `processes` torchrun
    processes and return their exit status. The workers read `config_path`, or, when None, a copy of `config`
    in a temporary folder that is removed when they are done."""
    environment = {**environment}
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    if config_path is not None:
        return subprocess.call(torchrun_command(processes, "interhand.runtime.worker", str(config_path), rendezvous,
                                                job), env=environment)
    with tempfile.TemporaryDirectory(prefix="interhand-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
        return start_workers(job, config, environment, processes, rendezvous, path)
