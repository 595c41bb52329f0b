"""What dataset.json says about the run that wrote a folder, without a path of the writer's machine (issue #29).

dataset.json is published with the shards and covered by SHA256SUMS: an absolute path, or one relative to the
writer's working directory, would tell a reader where the writer kept its files and resolve nowhere else. So
(SHARD_FORMAT.md §5): the config's folder and file options keep only their last component (`data` the dataset
folder's name, `shards` the output root's, `aid_list` the file's), `sources[].path` is relative to the dataset folder,
and `command_line` is the `interhand shards` command that reproduces the folder, rebuilt from that config (not
the arguments as typed: those hold paths, and `--config FILE` hides what it set).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from interhand.config import PreprocessConfig
from interhand.preprocess.sources.common import data_relative_path

__all__ = ["PATH_FIELDS", "published_config", "reproducing_command", "published_sources"]

# PreprocessConfig's fields that name a folder or file of the writer's machine.
PATH_FIELDS = ("data", "shards", "aid_list")
# Always in the command, default or not: what names the folder. `part` and `progress` never are: a folder is the
# same whatever job wrote which part (dataset.json's `parts` records N), with or without progress bars.
_NAMING_FIELDS = ("dataset", "data", "annot_subset", "split", "shards")
_NOT_IN_COMMAND = ("part", "progress")


def _last_component(value: str) -> str:
    """The name a path ends in ('data/InterHand2.6M/' → 'InterHand2.6M', '.' → the working folder's name)."""
    return Path(os.path.abspath(value)).name if value else ""


def published_config(config: dict) -> dict:
    """The run's PreprocessConfig as dataset.json records it (today's field names): PATH_FIELDS by their last
    component, the rest as given."""
    return {name: _last_component(value) if name in PATH_FIELDS else value for name, value in config.items()}


def _option(name: str, value: object) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    return [flag, str(value)]


def reproducing_command(config: dict) -> list[str]:
    """`interhand shards` with the options of a published_config that make this folder: the naming ones and every
    other that differs from its default (`--data`, `--shards`, `--aid-list` name your own folders)."""
    defaults = {field.name: field.default for field in dataclasses.fields(PreprocessConfig)}
    command = ["interhand", "shards"]
    for name, value in config.items():
        if name in _NAMING_FIELDS or (name not in _NOT_IN_COMMAND and value != defaults.get(name)):
            command += _option(name, value)
    return command


def published_sources(files: list[Path], data: str) -> list[dict]:
    """dataset.json's `sources`: each annotation file read, relative to the dataset folder, and its length."""
    return [{"path": data_relative_path(str(path), data), "bytes": path.stat().st_size} for path in files]
