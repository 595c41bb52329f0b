"""The split folder an evaluation scores: opened and checked once (`interhand.manifests.split_folder`), plus what
scoring needs of it, then handed down to the loader and the scorer."""

from __future__ import annotations

from pathlib import Path

from interhand.config import EvalConfig
from interhand.manifests.split_folder import SplitFolder, open_split_folder
from interhand.shard_format.names import DATASET_FILE, split_dir

__all__ = ["open_split"]


def open_split(config: EvalConfig, indexes: bool = True) -> SplitFolder:
    """The split's shard folder, checked: finished shards of the dataset, subset and split asked for, with samples,
    whose manifest (the ground truth) and, with `indexes` (a loader will serve its images), indexes are what
    dataset.json records (`open_split_folder`), and with RootNet outputs when --root-source rootnet."""
    folder = open_split_folder(split_dir(Path(config.shards), config.dataset, config.annot_subset, config.split),
                               config.loader.accept_incomplete, indexes)
    dataset = folder.dataset
    found = (dataset.dataset, dataset.subset, dataset.split)
    if found != (config.dataset, config.annot_subset, config.split):
        raise ValueError(f"{folder.path / DATASET_FILE}: shards of {'/'.join(map(str, found))}, but eval was asked "
                         f"for {config.dataset}/{config.annot_subset}/{config.split} "
                         "(refused: it would be mislabelled)")
    if not dataset.counts.samples:
        raise ValueError(f"{folder.path}: the split has no samples (every annotation was rejected: see errors.parquet)")
    if config.root_source == "rootnet":
        missing, total, _ = folder.rootnet_coverage
        if missing:
            raise ValueError(f"{folder.path}: {missing} of {total} samples have no RootNet output; "
                             "use --root-source gt, or make the shards with the RootNet files present")
    return folder
