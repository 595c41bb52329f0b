"""`build_loader`: the one entry point train and eval use; picks DALI or the reference loader at run time."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

from interhand.config import LoaderConfig
from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.loaders.batch import Batch
from interhand.loaders.dali_loader import DaliLoader, TrainParamsSource
from interhand.loaders.dali_pipeline import DaliPipelineSpec, cuda_device_count
from interhand.loaders.reference import ReferenceDataset, ReferenceLoader, check_indexes, reference_loader, shard_list

__all__ = ["ShardLoader", "build_loader", "resolve_backend"]


def resolve_backend(config: LoaderConfig) -> tuple[str, str]:
    """(backend, device) for this machine: DALI on a GPU, the reference loader on the CPU unless asked."""
    gpus = cuda_device_count()
    device = config.device if config.device != "auto" else ("gpu" if gpus else "cpu")
    if device == "gpu" and not gpus:
        raise ValueError("device='gpu' but DALI sees no CUDA device on this machine; use --device cpu or auto")
    backend = config.backend if config.backend != "auto" else ("dali" if device == "gpu" else "reference")
    if backend == "reference" and device == "gpu":
        raise ValueError("the reference loader decodes on the CPU; device='gpu' needs backend='dali'")
    return backend, device


@dataclass
class ShardLoader:
    """Batches of one split for one rank; `set_epoch` before each epoch (reshuffles and redraws)."""

    backend: str
    device: str
    inner: Union[DaliLoader, ReferenceLoader]
    dataset: ReferenceDataset | None = None

    def set_epoch(self, epoch: int) -> None:
        if self.dataset is not None:
            self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.inner)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """The epoch's batches from batch `start` on (mid-epoch resume): the CPU loader skips the earlier
        ones unread; DALI reads and drops them (its reader has no random access)."""
        if isinstance(self.inner, ReferenceLoader):
            return self.inner.iter_from(start)
        return itertools.islice(iter(self.inner), start, None)

    def __len__(self) -> int:
        return len(self.inner)


def build_loader(shard_dir: Path, config: LoaderConfig, rank: int = 0, world_size: int = 1,
                 with_keys: bool = False, gpu_index: int | None = None,
                 geometry: HeatmapGeometry = ORIGINAL_GEOMETRY) -> ShardLoader:
    """A loader over the shards in `shard_dir` (one `interhand shards` output folder).

    Each rank reads its own contiguous share (DALI's shard_id/num_shards semantics, in both loaders).
    Without augmentation the order is the shards' order and every sample is seen exactly once.
    `gpu_index` defaults to torchrun's LOCAL_RANK (one process per GPU). `geometry` gives the patch size
    and the target encoding (the model's: `interhand.model.decode.heatmap_geometry(model_config)`).
    """
    shards = shard_list(Path(shard_dir), config.accept_incomplete)
    backend, device = resolve_backend(config)
    if backend == "reference":
        dataset = ReferenceDataset(shards, rank, world_size, augment=config.augment, seed=config.seed, box=config.box,
                                   shuffle_buffer=config.shuffle_buffer if config.augment else 0,
                                   geometry=geometry, region_decode=config.roi_decode)
        return ShardLoader(backend, device, reference_loader(dataset, config.batch_size, config.workers), dataset)
    check_indexes(shards)
    spec = DaliPipelineSpec(shards.paths, shards.index_paths,
                            batch_size=config.batch_size, num_threads=max(config.workers, 1), device=device,
                            shard_id=rank, num_shards=world_size, shuffle=config.augment,
                            initial_fill=config.shuffle_buffer, seed=config.seed + rank, box=config.box,
                            roi_decode=config.roi_decode, geometry=geometry, with_keys=with_keys,
                            gpu_index=int(os.environ.get("LOCAL_RANK", 0)) if gpu_index is None else gpu_index)
    params = TrainParamsSource(config.batch_size, config.seed, rank) if config.augment else None
    return ShardLoader(backend, device, DaliLoader(spec, params))
