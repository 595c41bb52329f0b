"""Several training and evaluation jobs in one process group: `python -m torch.distributed.run --standalone
--nproc_per_node=P tests/train/ddp_jobs.py JOBS.json`, JOBS.json a list of {"job": "train"|"eval", "config": {…}}.

What `interhand train/eval --cpu-processes P` runs on each rank (`interhand.runtime.worker`), for many configs at
the cost of one torchrun start (test_ddp_shares.py).
"""

import json
import sys
from pathlib import Path

import interhand.eval.run as eval_run
import interhand.train.run as train_run
from interhand.config import config_from_dict
from interhand.runtime.ddp import distributed

JOBS = {"train": train_run, "eval": eval_run}


def main(path: str) -> None:
    with distributed(use_gpu=False):  # one group for every job: each job's own `distributed` keeps it
        for job in json.loads(Path(path).read_text()):
            module = JOBS[job["job"]]
            module.run(config_from_dict(module.CONFIG_TYPE, job["config"]))


if __name__ == "__main__":
    main(sys.argv[1])
