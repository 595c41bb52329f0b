"""Start an evaluation: in this process, or under torchrun with one process per listed GPU (or N on the CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from interhand.config import EvalConfig, config_to_dict
from interhand.eval.run import eval_shard_dir, resolve_checkpoint, run
from interhand.train.launch import Rendezvous, gpu_environment, torchrun_command

__all__ = ["launch"]


def launch(config: EvalConfig) -> int:
    """Check the request (shards, checkpoint, GPUs) and score. Returns the exit status."""
    eval_shard_dir(config)
    resolve_checkpoint(config)
    if not config.gpu and config.cpu_processes == 1:
        run(config)
        return 0
    environment, processes = gpu_environment(config.gpu) if config.gpu else (dict(os.environ), config.cpu_processes)
    with tempfile.TemporaryDirectory(prefix="interhand-eval-") as folder:  # removed when the workers are done
        config_path = Path(folder) / "eval_config.json"
        config_path.write_text(json.dumps(config_to_dict(config)))
        return subprocess.call(torchrun_command(processes, "interhand.eval.worker", str(config_path), Rendezvous()),
                               env=environment)
