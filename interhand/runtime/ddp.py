"""Process groups: torchrun's environment → rank, world size, device; NCCL on GPUs, gloo on the CPU."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist

__all__ = ["DistContext", "distributed", "setup_distributed", "cleanup_distributed", "all_reduce_mean",
           "gather_from_ranks", "wait_for_ranks", "weights_digest"]


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(use_gpu: bool) -> DistContext:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: one process) and join the group."""
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_gpu:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_gpu else "gloo")
    return DistContext(rank, world_size, local_rank, device)


@contextlib.contextmanager
def distributed(use_gpu: bool) -> Iterator[DistContext]:
    """`setup_distributed` for the time of a job; the group is destroyed after it only when this call joined it
    (a caller that runs several jobs in one group, e.g. a test, keeps its group)."""
    joined = not dist.is_initialized()
    context = setup_distributed(use_gpu)
    try:
        yield context
    finally:
        if joined:
            cleanup_distributed()


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: dict[str, float], context: DistContext) -> dict[str, float]:
    """Average scalars over ranks (one all_reduce); unchanged on a single process."""
    if not context.distributed:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[key]) for key in keys], dtype=torch.float64,
                          device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return {key: float(value) / context.world_size for key, value in zip(keys, tensor.tolist())}


def gather_from_ranks(value, context: DistContext) -> list:
    """Every rank's `value` (any picklable object), in rank order, on every rank; [value] on a single process."""
    if not context.distributed:
        return [value]
    values = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of the model's parameters, bit for bit: DDP keeps the ranks' parameters
    identical, so their digests must agree. Buffers are left out: BatchNorm's running statistics follow each
    rank's last batch until DDP broadcasts rank 0's at the next forward (snapshots hold rank 0's)."""
    digest = hashlib.sha256()
    for name, tensor in model.named_parameters():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def wait_for_ranks(context: DistContext) -> None:
    """Return when every rank got here (e.g. rank 0 has written the last snapshot); nothing on a single process."""
    if context.distributed:
        dist.barrier()
