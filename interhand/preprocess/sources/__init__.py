"""One reader per data source; each turns annotation files into Sample / Rejection records."""

from __future__ import annotations

from pathlib import Path

from interhand.preprocess.sources.coco import open_coco
from interhand.preprocess.sources.common import Record, Rejection, RejectSample, SourceError, SourceReading, check_root
from interhand.preprocess.sources.interhand26m import open_interhand26m
from interhand.preprocess.sources.rhd import holds_rhd, open_rhd
from interhand.preprocess.sources.stb import open_stb

__all__ = ["SOURCES", "open_source", "DATASET_SUBFOLDERS", "missing_subfolder", "check_root", "Record", "RejectSample",
           "Rejection", "SourceError", "SourceReading", "dataset_of"]

SOURCES = {"interhand26m": open_interhand26m, "stb": open_stb, "rhd": open_rhd, "coco": open_coco}


def open_source(config) -> SourceReading:
    """Open `config.dataset` (a PreprocessConfig); an unknown name lists the valid ones."""
    if config.dataset not in SOURCES:
        raise ValueError(f"dataset={config.dataset!r} is not one of {', '.join(SOURCES)}")
    return SOURCES[config.dataset](config)


# The sub-folder that marks each dataset's folder (the one `interhand shards --data` names), as released and as
# `interhand synth` writes it: InterHand2.6M's annotations/, STB's and RHD's data/. COCO has no fixed one.
DATASET_SUBFOLDERS = {"interhand26m": "annotations", "stb": "data", "rhd": "data"}


def missing_subfolder(dataset: str, folder: Path) -> str | None:
    """The sub-folder `folder` lacks to be `dataset`'s folder, or None when it has it (or the dataset has none)."""
    expected = DATASET_SUBFOLDERS.get(dataset)
    return expected if expected and not (Path(folder) / expected).is_dir() else None


def dataset_of(folder: Path) -> str:
    """The dataset whose layout `folder` has: InterHand2.6M (annotations/), RHD (data/RHD_*.json) or STB (data/);
    SourceError when none (COCO has no fixed layout, so it is never guessed)."""
    folder = Path(folder)
    if missing_subfolder("interhand26m", folder) is None:
        return "interhand26m"
    if missing_subfolder("stb", folder) is None:
        return "rhd" if holds_rhd(folder) else "stb"
    raise SourceError(f"{folder}: neither an InterHand2.6M folder (annotations/) nor an STB/RHD folder (data/)")
