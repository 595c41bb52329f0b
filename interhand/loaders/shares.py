"""How a split is shared between ranks, and the one rule that keeps distributed training in step.

Both loaders give rank r of P the contiguous share `rank_range(N, r, P)` of the N samples (DALI's
`fn.readers.webdataset(shard_id, num_shards)` split): shares of ⌊N/P⌋ or ⌈N/P⌉ samples. DDP needs every rank
to run the same number of steps (a rank with one batch more waits forever in the next all-reduce), so
training takes **equal shares**:

- every rank takes S = ⌊N/P⌋ samples an epoch, in ⌈S/B⌉ batches of B (the last one S − (⌈S/B⌉ − 1)·B rows,
  the same on every rank; never an empty batch);
- a rank whose share holds S + 1 samples leaves one out: row `left_out_row(seed, epoch, share, S + 1)` of its
  share's stream (the order it reads the share in, shuffled or not). The row moves on by one each epoch, so
  over S + 1 epochs every position is left out once: at most P − 1 samples an epoch, none always.

Evaluation keeps every sample exactly once: no collective runs inside its loop, so ranks may run different
numbers of batches.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rank_range", "equal_share", "equal_share_batch_sizes", "left_out_row"]


def rank_range(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, end) of a rank's contiguous share, as DALI's reader splits with shard_id/num_shards."""
    return total * rank // world_size, total * (rank + 1) // world_size


def equal_share(total: int, world_size: int) -> int:
    """S = ⌊N/P⌋, the samples every rank trains on an epoch; ValueError when a rank would get none."""
    if total < world_size:
        raise ValueError(f"the split has {total} samples for {world_size} processes: every process needs at least "
                         "one; use fewer processes (--gpu, --cpu-processes)")
    return total // world_size


def equal_share_batch_sizes(total: int, world_size: int, batch_size: int) -> list[int]:
    """The rows of each of a training epoch's batches, the same on every rank: [B, …, B, S − (⌈S/B⌉ − 1)·B]."""
    share = equal_share(total, world_size)
    steps = math.ceil(share / batch_size)
    return [batch_size] * (steps - 1) + [share - (steps - 1) * batch_size]


def left_out_row(seed: int, epoch: int, share: int, rows: int) -> int:
    """The row of share `share`'s stream that a rank leaves out in `epoch` when the share holds one sample more than
    the equal share (`rows` = S + 1): a per-(seed, share) offset, moved on by one each epoch."""
    offset = int(np.random.default_rng([seed, share]).integers(rows))
    return (offset + epoch) % rows
