"""Start a training run: in this process, or on torchrun workers (interhand.runtime.launch).

Each process trains on its LOCAL_RANK's GPU (or the CPU with gloo) and reads its share of the shards;
the workers read the resolved config the run folder keeps (RUN/config.yaml).
"""

from __future__ import annotations

from interhand.config import TrainConfig
from interhand.runtime.launch import Rendezvous, processes_for, start_workers
from interhand.train.run import run, train_shard_dir, write_resolved_config

__all__ = ["launch"]


def launch(config: TrainConfig, rendezvous: Rendezvous = Rendezvous()) -> int:
    """Check the request, save the resolved config, and train. Returns the exit status."""
    environment, processes = processes_for(config.gpu, config.cpu_processes)
    train_shard_dir(config)  # fail here, before starting processes, if there are no shards
    config_path = write_resolved_config(config)
    if not config.gpu and processes == 1 and rendezvous.nnodes == 1:
        run(config)  # one CPU process: no torchrun, no process group
        return 0
    return start_workers("interhand.train.run", config, environment, processes, rendezvous, config_path)
