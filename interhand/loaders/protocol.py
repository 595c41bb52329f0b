"""What train and eval iterate, whichever backend makes the batches: the one loader protocol.

`interhand.loaders.build.build_loader` returns one of the two implementations, the reference CPU loader
(`interhand.loaders.reference.ReferenceLoader`) or DALI (`interhand.loaders.dali_loader.DaliLoader`);
callers use only what is written here. Both draw each sample's augmentation from the same counter
function of (seed, epoch, sample position), `interhand.loaders.augment.counter_params`.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from interhand.loaders.batch import Batch

__all__ = ["ShardLoader"]


@runtime_checkable
class ShardLoader(Protocol):
    """Batches of one split for one rank."""

    backend: str  # "reference" or "dali"
    device: str  # where images are decoded and warped: "cpu" or "gpu"

    def __len__(self) -> int:
        """Batches in one epoch of this rank (the last one may be partial)."""
        ...

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch: the epoch keys the shuffle and the augmentation."""
        ...

    def iter_from(self, batch: int) -> Iterator[Batch]:
        """This epoch's batches from batch number `batch` on (0: the whole epoch; more: mid-epoch resume)."""
        ...

    def __iter__(self) -> Iterator[Batch]:
        """The whole epoch: `iter_from(0)`."""
        ...
