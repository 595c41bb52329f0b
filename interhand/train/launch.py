"""Start a training run: in this process, or on torchrun workers (interhand.runtime.launch).

Each process trains on its LOCAL_RANK's GPU (or the CPU with gloo) and reads its share of the shards;
the workers read the resolved config the run folder keeps (RUN/config.yaml).
"""

from __future__ import annotations

from interhand.config import TrainConfig
from interhand.model.backbone import read_imagenet_weights
from interhand.runtime.folder_lock import run_folder_lock
from interhand.runtime.launch import processes_for, start_workers
from interhand.train.run import run, train_shard_dir, write_resolved_config

__all__ = ["launch"]


def launch(config: TrainConfig) -> int:
    """Check the request (GPUs, shards, a run folder no other training job holds), save the resolved config, and
    train on the processes `config.launch` asks for, holding the run folder's lock. Returns the exit status."""
    processes_for(config.launch)  # fail here, before writing anything, if a listed GPU is not there
    train_shard_dir(config)  # and if there are no shards
    if config.model.pretrained:  # and if the weights file is unreadable or code-bearing: one line, not one per worker
        read_imagenet_weights(config.model.pretrained)
    with run_folder_lock(config.run_dir, "train"):  # and if another training job writes this run folder
        config_path = write_resolved_config(config)
        if config.launch.in_process:
            run(config)  # one CPU process: no torchrun, no process group
            return 0
        return start_workers("interhand.train.run", config, config_path)
