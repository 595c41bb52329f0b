"""Entry point of each torchrun process: `python -m interhand.train.worker RUN/config.yaml`."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from interhand.config import TrainConfig, config_from_dict
from interhand.model.original_checkpoint import CheckpointWriteFailed
from interhand.train.run import run


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m interhand.train.worker CONFIG.yaml", file=sys.stderr)
        return 2
    config = config_from_dict(TrainConfig, yaml.safe_load(Path(argv[0]).read_text()))
    try:
        run(config)
    except CheckpointWriteFailed as error:  # one line, not a traceback per process
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
