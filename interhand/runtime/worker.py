"""Entry point of each torchrun process: `python -m interhand.runtime.worker JOB CONFIG.yaml`.

JOB is the module of the job (`interhand.train.run`, `interhand.eval.run`); it names its config type as
`CONFIG_TYPE` and runs one process with `run(config)`. The job is imported by name because it sits above
this package (tests/test_import_direction.py).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import yaml

from interhand.config import config_from_dict
from interhand.model.original_checkpoint import CheckpointWriteFailed
from interhand.outputs import OutputError, output_error_line
from interhand.progress import show_warnings

JOBS = ("interhand.train.run", "interhand.eval.run")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in JOBS:
        print(f"usage: python -m interhand.runtime.worker {{{','.join(JOBS)}}} CONFIG.yaml", file=sys.stderr)
        return 2
    show_warnings()
    job = importlib.import_module(argv[0])
    config = config_from_dict(job.CONFIG_TYPE, yaml.safe_load(Path(argv[1]).read_text()))
    try:
        job.run(config)
    except (CheckpointWriteFailed, OutputError) as error:  # one line, not a traceback per process
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a write outside interhand.outputs (a library's own file)
        print(f"error: {output_error_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
