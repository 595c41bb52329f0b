"""`build_loader`: the one entry point train and eval use; picks DALI or the reference loader at run time."""

from __future__ import annotations

import os
from pathlib import Path

from interhand.config import LoaderConfig
from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.loaders.dali_loader import DaliLoader
from interhand.loaders.dali_pipeline import DaliPipelineSpec, cuda_device_count
from interhand.loaders.protocol import ShardLoader
from interhand.loaders.reference import ReferenceDataset, ReferenceLoader
from interhand.loaders.shard_list import check_indexes, shard_list
from interhand.manifests.split_folder import SplitFolder, open_split_folder

__all__ = ["ShardLoader", "build_loader", "check_box_source", "resolve_backend"]


def resolve_backend(config: LoaderConfig, on_gpu: bool = False) -> tuple[str, str]:
    """(backend, device) for a job that runs on a GPU (`on_gpu`) or on the CPU, on this machine.

    `device="auto"` follows the job: DALI `mixed` decoding when the job's model is on a GPU that DALI sees, the CPU
    otherwise (a CPU job on a GPU host does not decode on GPU 0; the reference loader always decodes on the CPU).
    `backend="auto"`: DALI when it decodes on the GPU, the reference loader (the fast CPU path) otherwise."""
    gpus = cuda_device_count()
    if config.device == "auto":
        device = "gpu" if on_gpu and gpus and config.backend != "reference" else "cpu"
    else:
        device = config.device
    if device == "gpu" and not gpus:
        raise ValueError("device='gpu' but DALI sees no CUDA device on this machine; use --device cpu or auto")
    backend = config.backend if config.backend != "auto" else ("dali" if device == "gpu" else "reference")
    if backend == "reference" and device == "gpu":
        raise ValueError("the reference loader decodes on the CPU; device='gpu' needs backend='dali'")
    return backend, device


def check_box_source(split: Path | SplitFolder, box: str) -> None:
    """Refuse, in one line naming the split and a sample, crop boxes the split does not have: `box='rootnet'`
    needs a RootNet output for every sample (the shards hold one only where the RootNet files were joined,
    val/test; elsewhere the box is all zeros and the crop would be undefined)."""
    if box != "rootnet":
        return
    folder = open_split_folder(split)
    missing, total, first = folder.rootnet_coverage
    if missing:
        raise ValueError(f"{folder.path}: {missing} of {total} samples have no RootNet box (first: {first}); use the "
                         "GT box (--loader-box gt) or make the shards with the RootNet files present")


def build_loader(split: Path | SplitFolder, config: LoaderConfig, rank: int = 0, world_size: int = 1,
                 with_keys: bool = False, gpu_index: int | None = None,
                 geometry: HeatmapGeometry = ORIGINAL_GEOMETRY, equal_shares: bool = False,
                 on_gpu: bool = False) -> ShardLoader:
    """A loader over the shards of `split`: one `interhand shards` output folder, as a path (opened and checked
    here) or already opened (`interhand.manifests.split_folder.open_split_folder`, as eval does: one check).

    Each rank reads its own contiguous share (DALI's shard_id/num_shards semantics, in both loaders; DALI's
    reader moves each rank on to the next share every epoch, the reference loader keeps it).
    Without augmentation the order is the shards' order. `equal_shares` (training under DDP): every rank takes
    the same number of samples and batches an epoch, leaving out at most world_size − 1 samples
    (`interhand.loaders.shares`); without it (evaluation) every sample is seen exactly once.
    `on_gpu`: the job's model is on a GPU (`resolve_backend`'s choice for "auto"; the reference loader then makes
    its batches in pinned memory, so that their copy to the GPU does not wait). `gpu_index` defaults to torchrun's
    LOCAL_RANK (one process per GPU). `geometry` gives the patch size
    and the target encoding (the model's: `interhand.geometry.heatmap.heatmap_geometry(model_config)`).
    """
    folder = open_split_folder(split, config.accept_incomplete)
    shards = shard_list(folder)
    check_box_source(folder, config.box)
    backend, device = resolve_backend(config, on_gpu)
    if backend == "reference":
        return ReferenceLoader(ReferenceDataset(shards, config, rank, world_size, geometry, equal_shares=equal_shares,
                                                pin_memory=on_gpu))
    check_indexes(shards)
    spec = DaliPipelineSpec(shards.paths, shards.index_paths,
                            batch_size=config.batch_size, num_threads=max(config.threads, 1), device=device,
                            shard_id=rank, num_shards=world_size, shuffle=config.augment,
                            initial_fill=config.shuffle_buffer, seed=config.seed + rank, box=config.box,
                            roi_decode=config.roi_decode, geometry=geometry, with_keys=with_keys,
                            gpu_index=int(os.environ.get("LOCAL_RANK", 0)) if gpu_index is None else gpu_index)
    return DaliLoader(spec, augment_seed=config.seed if config.augment else None, equal_shares=equal_shares,
                      share_seed=config.seed)
