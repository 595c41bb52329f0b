"""STB reader: data/STB_<split>.json, images data/images/<seq_name>/<file_name>
(the original's `data/STB/dataset.py`)."""

from __future__ import annotations

from pathlib import Path

from interhand.preprocess.sources.common import SourceError, SourceReading, check_root, require_file
from interhand.preprocess.sources.single_hand import open_single_hand

__all__ = ["open_stb"]

_SPLITS = ("train", "test")


def open_stb(config) -> SourceReading:
    if config.split not in _SPLITS:
        raise SourceError(f"STB has no {config.split} split; it has {', '.join(_SPLITS)}")
    data = check_root(Path(config.data), "root") / "data"
    data_path = require_file(data / f"STB_{config.split}.json", "STB annotation file")
    # The original reads RootNet output only in test mode.
    rootnet = Path(config.data) / "rootnet_output" / "rootnet_stb_output.json" if config.split == "test" else None
    return open_single_hand("stb", config.split, data_path,
                            lambda image: data / "images" / image["seq_name"] / image["file_name"], rootnet,
                            data / "images")
