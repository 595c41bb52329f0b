"""RHD reader: data/RHD_{training,evaluation}.json, images data/<training|evaluation>/color/<file_name>
(the original's `data/RHD/dataset.py`). The original maps train → training and anything else → evaluation."""

from __future__ import annotations

from pathlib import Path

from interhand.preprocess.sources.common import SourceError, SourceReading, check_root, require_file
from interhand.preprocess.sources.single_hand import open_single_hand

__all__ = ["open_rhd", "holds_rhd"]

_FOLDERS = {"train": "training", "test": "evaluation"}


def open_rhd(config) -> SourceReading:
    if config.split not in _FOLDERS:
        raise SourceError(f"RHD has no {config.split} split; it has {', '.join(_FOLDERS)}")
    data = check_root(Path(config.data), "root") / "data"
    folder = _FOLDERS[config.split]
    data_path = require_file(data / f"RHD_{folder}.json", "RHD annotation file")
    rootnet = Path(config.data) / "rootnet_output" / "rootnet_rhd_output.json" if config.split == "test" else None
    images = data / folder / "color"
    return open_single_hand("rhd", config.split, data_path, lambda image: images / image["file_name"], rootnet, images)


def holds_rhd(folder: Path) -> bool:
    """Whether the dataset folder `folder` holds an RHD annotation file (STB's folder has a data/ too)."""
    return any((Path(folder) / "data" / f"RHD_{name}.json").is_file() for name in _FOLDERS.values())
