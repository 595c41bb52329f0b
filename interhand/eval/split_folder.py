"""The split folder an evaluation scores, opened and checked once and handed down (to the loader as its path, to
the scorer with its dataset.json)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interhand.config import EvalConfig
from interhand.manifests.index_check import recorded_file_problems
from interhand.manifests.query import samples_without_rootnet
from interhand.shard_format.dataset_json import DatasetJson, read_dataset_json
from interhand.shard_format.names import MANIFEST_FILE

__all__ = ["SplitFolder", "open_split"]


@dataclass(frozen=True)
class SplitFolder:
    """A checked SHARDS/<dataset>/<annot-subset>/<split> folder and its dataset.json."""

    path: Path
    dataset: DatasetJson


def open_split(config: EvalConfig) -> SplitFolder:
    """The split's shard folder, checked: finished shards (`read_dataset_json`) of the dataset, subset and split
    asked for, with samples, whose manifest (the ground truth) has the SHA-256 dataset.json records, and
    RootNet outputs when --root-source rootnet."""
    shard_dir = Path(config.shards) / config.dataset / config.annot_subset / config.split
    dataset = read_dataset_json(shard_dir, config.loader.accept_incomplete)
    found = (dataset.dataset, dataset.subset, dataset.split)
    if found != (config.dataset, config.annot_subset, config.split):
        raise ValueError(f"{shard_dir / 'dataset.json'}: shards of {'/'.join(map(str, found))}, but eval was asked "
                         f"for {config.dataset}/{config.annot_subset}/{config.split} (refused: it would be mislabelled)")
    if not dataset.counts.samples:
        raise ValueError(f"{shard_dir}: the split has no samples (every annotation was rejected: see errors.parquet)")
    problems = recorded_file_problems(shard_dir, dataset, (MANIFEST_FILE,))
    if problems:
        raise ValueError(f"{shard_dir}: {problems[0]}; the ground truth cannot be trusted (`interhand verify`)")
    if config.root_source == "rootnet":
        missing, total, _ = samples_without_rootnet(shard_dir)
        if missing:
            raise ValueError(f"{shard_dir}: {missing} of {total} samples have no RootNet output; "
                             "use --root-source gt, or make the shards with the RootNet files present")
    return SplitFolder(shard_dir, dataset)
