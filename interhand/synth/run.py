"""`interhand synth`: write one synthetic dataset in its real on-disk format."""

from __future__ import annotations

import shutil
from pathlib import Path

from interhand.config import SynthConfig
from interhand.outputs import make_folder
from interhand.progress import progress as progress_reporter
from interhand.synth.interhand26m import SPLITS, write_interhand26m
from interhand.synth.stb_rhd import write_rhd, write_stb

__all__ = ["run", "WRITERS"]

WRITERS = {"interhand26m": write_interhand26m, "stb": write_stb, "rhd": write_rhd}


def _image_count(config: SynthConfig) -> int:
    if config.dataset == "interhand26m":
        return config.frames * config.cameras * len(SPLITS)
    return config.frames * 2


def run(config: SynthConfig, out: Path, overwrite: bool = False, show_progress: bool = True) -> str:
    """Write the dataset to `out`; returns a one-line summary. Refuses a non-empty `out` unless `overwrite`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(out)
    make_folder(out)
    with progress_reporter(total=_image_count(config), unit="img", desc=f"synth {config.dataset}",
                           enabled=show_progress, leave=False) as progress:
        counts = WRITERS[config.dataset](config, out, progress)
    per_split = ", ".join(f"{split} {count}" for split, count in counts.items())
    return f"wrote {config.dataset} (seed {config.seed}) to {out}: annotations per split: {per_split}"
