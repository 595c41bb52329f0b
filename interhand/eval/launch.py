"""Start an evaluation: in this process, or on torchrun workers (interhand.runtime.launch), one per listed GPU
(or N on the CPU)."""

from __future__ import annotations

from pathlib import Path

from interhand.config import EvalConfig
from interhand.eval.results import evaluate_mean_pose, run_name
from interhand.eval.split_folder import open_split
from interhand.runtime.folder_lock import run_folder_lock

__all__ = ["launch"]


def launch(config: EvalConfig) -> tuple[int, Path]:
    """Check the request (shards, checkpoint, GPUs) and score on the processes `config.launch` asks for. Returns
    the exit status and the result folder (its report.txt is what the CLI shows: rank 0 wrote it, whichever
    process that was)."""
    if config.baseline == "mean-pose":  # no network, no image: in this process, without torch (~1.5 s, #31)
        split = open_split(config, indexes=False)
        results = Path(config.run_dir) / "result" / run_name(config, None)
        with run_folder_lock(results, "eval", "another --run-name", within=config.run_dir):
            evaluate_mean_pose(config, split)
        return 0, results
    from interhand.eval.run import result_dir, run  # torch: imported for a network only
    from interhand.runtime.launch import start_workers

    split = open_split(config)
    results = result_dir(config)  # resolves the checkpoint: fails here, before starting processes
    with run_folder_lock(results, "eval", "another --run-name", within=config.run_dir):  # one eval per result folder
        if config.launch.in_process:
            run(config, split)
            return 0, results
        return start_workers("interhand.eval.run", config), results
