"""Entry point of each torchrun process of `interhand eval --gpu ...`: `python -m interhand.eval.worker CONFIG.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from interhand.config import EvalConfig, config_from_dict
from interhand.eval.run import run


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m interhand.eval.worker CONFIG.json", file=sys.stderr)
        return 2
    run(config_from_dict(EvalConfig, json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
