"""Start a job (training, evaluation) on torchrun: one process per listed GPU, or N CPU processes with gloo.

What to start is the job's `LaunchConfig` (`config.launch`). `--gpu 0-3` → CUDA_VISIBLE_DEVICES=0,1,2,3 (or the
first four entries of an inherited CUDA_VISIBLE_DEVICES, e.g. a scheduler's) and
`torchrun --nproc_per_node=4`; each process runs on its LOCAL_RANK's GPU with NCCL. Without --gpu, N processes
use gloo (what the tests run). Several nodes: the same command on each node with `nnodes`, `node_rank`,
`master_addr` and `master_port` (torchrun's own rendezvous). Every process runs
`python -m interhand.runtime.worker JOB CONFIG.yaml`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from interhand.config import LaunchConfig, config_to_dict
from interhand.runtime.gpus import check_gpus_exist, parse_gpus, visible_devices

__all__ = ["torchrun_command", "gpu_environment", "processes_for", "start_workers"]


def torchrun_command(processes: int, module: str, config_path: str, launch: LaunchConfig,
                     job: str | None = None) -> list[str]:
    """`python -m torch.distributed.run ... -m <module> [<job>] <config_path>` (one process per GPU).

    One node: torchrun's --standalone rendezvous picks a free local port, so runs never collide.
    """
    if launch.nnodes == 1:
        placement = ["--standalone"]
    else:
        placement = [f"--nnodes={launch.nnodes}", f"--node_rank={launch.node_rank}",
                     f"--master_addr={launch.master_addr}", f"--master_port={launch.master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", *placement,
            "-m", module, *([job] if job else []), config_path]


def gpu_environment(gpu: str) -> tuple[dict, int]:
    """The environment for torchrun with CUDA_VISIBLE_DEVICES set from `--gpu` (indices into an inherited
    CUDA_VISIBLE_DEVICES, e.g. a scheduler's), and the process count."""
    gpus = parse_gpus(gpu)
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    check_gpus_exist(gpus, torch.cuda.device_count(), inherited)
    return {**os.environ, "CUDA_VISIBLE_DEVICES": visible_devices(gpus, inherited)}, len(gpus)


def processes_for(launch: LaunchConfig) -> tuple[dict, int]:
    """The workers' environment and count on this node: one per GPU of `--gpu` (checked to exist), else
    `cpu_processes`."""
    return gpu_environment(launch.gpu) if launch.gpu else (dict(os.environ), launch.cpu_processes)


def start_workers(job: str, config, config_path: Path | None = None) -> int:
    """Run `job` (a module with `CONFIG_TYPE` and `run(config)`, see runtime/worker.py) on the torchrun processes
    `config.launch` asks for and return their exit status. The workers read `config_path`, or, when None, a copy
    of `config` in a temporary folder that is removed when they are done."""
    if config_path is None:
        with tempfile.TemporaryDirectory(prefix="interhand-") as folder:
            path = Path(folder) / "config.yaml"
            path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
            return start_workers(job, config, path)
    environment, processes = processes_for(config.launch)
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return subprocess.call(torchrun_command(processes, "interhand.runtime.worker", str(config_path), config.launch,
                                            job), env=environment)
