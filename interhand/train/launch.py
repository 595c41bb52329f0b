"""Start a training run: in this process, or under torchrun with one process per GPU (or N on the CPU).

`--gpu 0-3` → CUDA_VISIBLE_DEVICES=0,1,2,3 and `torchrun --nproc_per_node=4`; each process trains on
its LOCAL_RANK's GPU with NCCL and reads its share of the shards. Without --gpu, `cpu_processes`
processes use gloo (what the tests run). Several nodes: the same command on each node with
`nnodes`, `node_rank`, `master_addr` and `master_port` (torchrun's own rendezvous).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch

from interhand.config import TrainConfig
from interhand.train.gpus import check_gpus_exist, parse_gpus
from interhand.train.run import run, train_shard_dir, write_resolved_config

__all__ = ["Rendezvous", "launch", "torchrun_command", "gpu_environment"]


@dataclass(frozen=True)
class Rendezvous:
    """torchrun's multi-node arguments (defaults: one node)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500


def torchrun_command(processes: int, module: str, config_path: str, rendezvous: Rendezvous) -> list[str]:
    """`python -m torch.distributed.run ... -m <module> <config_path>` (one process per GPU).

    One node: torchrun's --standalone rendezvous picks a free local port, so runs never collide.
    """
    if rendezvous.nnodes == 1:
        placement = ["--standalone"]
    else:
        placement = [f"--nnodes={rendezvous.nnodes}", f"--node_rank={rendezvous.node_rank}",
                     f"--master_addr={rendezvous.master_addr}", f"--master_port={rendezvous.master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", *placement,
            "-m", module, config_path]


def gpu_environment(gpu: str) -> tuple[dict, int]:
    """The environment for torchrun with CUDA_VISIBLE_DEVICES set from `--gpu`, and the process count."""
    gpus = parse_gpus(gpu)
    check_gpus_exist(gpus, torch.cuda.device_count())
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(index) for index in gpus)}, len(gpus)


def launch(config: TrainConfig, rendezvous: Rendezvous = Rendezvous()) -> int:
    """Check the request, save the resolved config, and train. Returns the exit status."""
    if config.gpu:
        environment, processes = gpu_environment(config.gpu)
    else:
        environment, processes = dict(os.environ), config.cpu_processes
    train_shard_dir(config)  # fail here, before starting processes, if there are no shards
    config_path = write_resolved_config(config)
    if not config.gpu and processes == 1 and rendezvous.nnodes == 1:
        run(config)  # one CPU process: no torchrun, no process group
        return 0
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return subprocess.call(torchrun_command(processes, "interhand.train.worker", str(config_path), rendezvous),
                           env=environment)
