"""One training epoch: batches → normalised images and targets on the device → InterNet → the original's
three losses, summed with weight 1 → Adam. Depends on no globals; only rank 0 logs."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from interhand.loaders.batch import Batch, images_to_float, to_device
from interhand.loaders.protocol import ShardLoader
from interhand.model import internet_losses
from interhand.progress import progress as progress_reporter
from interhand.runtime.ddp import DistContext, all_reduce_mean
from interhand.train.log import RunLog

__all__ = ["LoopSettings", "LossReadback", "batch_targets", "train_step", "train_one_epoch"]


@dataclass(frozen=True)
class LoopSettings:
    epoch: int
    lr: float
    sigma: float
    heatmap_loss: str  # "lean" | "dense"
    log_every: int
    steps_per_epoch: int  # the epoch's iterations (after any cap)
    start_iteration: int = 0  # > 0 when resuming mid-epoch
    snapshot_every: int = 0
    global_step: int = 0  # iterations done before this epoch
    channels_last: bool = False  # the model's memory format (ModelConfig.channels_last): the batch is made in it


def batch_targets(batch: Batch, device: torch.device) -> dict[str, torch.Tensor]:
    """The loss's target mapping on `device` (copies the host does not wait for: `to_device`)."""
    names = ("joints_voxel", "joint_valid", "rel_root_depth_bins", "root_valid", "hand_type", "hand_type_valid")
    return {name: to_device(getattr(batch, name), device) for name in names}


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               loss_terms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One optimisation step, as training and `bench/bench_model.py` both take it: forward, the loss terms of
    the output (`loss_terms`, e.g. `internet_losses` against the batch's targets) summed with weight 1,
    backward, optimiser step. Returns the terms, detached and where they were computed: nothing is read back to
    the host (on a GPU a read waits for the step; `LossReadback` reads them every --log-every steps)."""
    losses = loss_terms(model(images))
    loss = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {name: value.detach() for name, value in losses.items()}


class LossReadback:
    """The loss terms of an epoch kept on the device, read back to the host in one transfer when asked.

    `add` (every step, no host sync) sums the terms and keeps the last step's and the first non-finite step's;
    `read` (every --log-every steps, before a snapshot, at the end of the epoch: one sync) returns the last step's
    terms and raises FloatingPointError naming the first step whose loss was not finite. The weights have moved
    on since that step, but no snapshot is written after it.
    """

    def __init__(self, names: tuple[str, ...], device: torch.device):
        self.names = names
        self.totals = torch.zeros(len(names), dtype=torch.float64, device=device)
        self.last = torch.zeros(len(names), device=device)
        self.first_bad = torch.full((1,), -1.0, device=device)  # iteration of the first non-finite loss, -1: none
        self.bad_terms = torch.zeros(len(names), device=device)

    def add(self, losses: dict[str, torch.Tensor], iteration: int) -> None:
        self.last = torch.stack([losses[name].float() for name in self.names])
        self.totals += self.last
        first = (self.first_bad < 0) & ~torch.isfinite(self.last.sum())
        self.first_bad = torch.where(first, float(iteration), self.first_bad)
        self.bad_terms = torch.where(first, self.last, self.bad_terms)

    def read(self, epoch: int) -> tuple[dict[str, float], dict[str, float]]:
        """(the last step's terms, the epoch's sums), as floats: one transfer to the host."""
        values = torch.cat([self.last.double(), self.totals, self.first_bad.double(), self.bad_terms.double()]).tolist()
        count = len(self.names)
        last, totals = values[:count], values[count:2 * count]
        first_bad, bad_terms = values[2 * count], values[2 * count + 1:]
        if first_bad >= 0:
            terms = dict(zip(self.names, bad_terms))
            raise FloatingPointError(f"epoch {epoch} iteration {int(first_bad)}: loss is {sum(bad_terms)} (terms "
                                     f"{terms}); lower --lr or check the shards")
        return ({f"loss_{name}": value for name, value in zip(self.names, last)},
                {f"loss_{name}": value for name, value in zip(self.names, totals)})


LOSS_NAMES = ("joint_heatmap", "rel_root_depth", "hand_type")  # internet_losses' terms, in the log's order


def train_one_epoch(model: torch.nn.Module, loader: ShardLoader, optimizer: torch.optim.Optimizer, log: RunLog,
                    context: DistContext, settings: LoopSettings,
                    on_snapshot: Optional[Callable[[int], None]] = None) -> dict[str, float]:
    """Train one epoch; returns the epoch's mean loss terms (averaged over ranks), throughput, and this rank's
    iterations and batch sizes ({rows: batches}). Raises when the loader gives another number of batches than
    `settings.steps_per_epoch`: every rank must run the same steps, or DDP's all-reduce waits forever.

    The loss terms stay on the device and are read back every `settings.log_every` steps, before a snapshot and
    at the end (`LossReadback`): no step waits for the GPU to finish the one before."""
    model.train()
    for group in optimizer.param_groups:
        group["lr"] = settings.lr
    start = settings.start_iteration
    batches = itertools.islice(loader.iter_from(start), max(settings.steps_per_epoch - start, 0))
    progress = progress_reporter(total=settings.steps_per_epoch, initial=settings.start_iteration,
                                 enabled=context.is_main, desc=f"epoch {settings.epoch}", unit="it")
    readback = LossReadback(LOSS_NAMES, context.device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    images_seen, data_seconds, step_seconds, count = 0, 0.0, 0.0, 0
    batch_sizes: dict[int, int] = {}
    shown: dict[str, str] = {}
    window = {"images": 0, "data": 0.0, "step": 0.0}
    epoch_start = last_end = time.perf_counter()
    for iteration, batch in enumerate(batches, start=settings.start_iteration):
        fetched = time.perf_counter()
        images = images_to_float(batch.image, batch.colour, context.device, memory_format)
        losses = train_step(model, optimizer, images, lambda output: internet_losses(
            output, batch_targets(batch, context.device), settings.sigma, settings.heatmap_loss))
        readback.add(losses, iteration)
        count += 1
        batch_sizes[len(batch.keys)] = batch_sizes.get(len(batch.keys), 0) + 1
        batch_images = len(batch.keys) * context.world_size
        images_seen += batch_images
        last = iteration + 1 == settings.steps_per_epoch  # the end-of-epoch snapshot follows at once
        snapshot = bool(settings.snapshot_every and (iteration + 1) % settings.snapshot_every == 0 and on_snapshot
                        and not last)
        logged = (iteration + 1) % settings.log_every == 0
        terms = readback.read(settings.epoch)[0] if logged or snapshot else None  # the one host sync
        done = time.perf_counter()
        data_seconds += fetched - last_end
        step_seconds += done - last_end
        window = {"images": window["images"] + batch_images, "data": window["data"] + fetched - last_end,
                  "step": window["step"] + done - last_end}
        last_end = done
        rates = {"img/s": f"{window['images'] / max(window['step'], 1e-9):.1f}",
                 "data": f"{window['data'] / max(window['step'], 1e-9):.0%}", "lr": f"{settings.lr:.0e}"}
        if terms is not None:
            shown = {name[5:]: f"{value:.3g}" for name, value in terms.items()}
        if context.is_main:
            progress.set_postfix({**shown, **rates}, refresh=False)
            progress.update(1)
        if logged:
            log.record("step", epoch=settings.epoch, iteration=iteration + 1,
                       global_step=settings.global_step + iteration + 1, lr=settings.lr,
                       images_per_s=round(window["images"] / max(window["step"], 1e-9), 2),
                       data_wait=round(window["data"] / max(window["step"], 1e-9), 4), **terms)
            window = {"images": 0, "data": 0.0, "step": 0.0}
        if snapshot:
            on_snapshot(iteration + 1)
    progress.close()
    expected = settings.steps_per_epoch - settings.start_iteration
    if count != expected:  # the other ranks would wait for this one in their next all-reduce: stop them all
        raise RuntimeError(f"rank {context.rank}: the loader gave {count} batches in epoch {settings.epoch}, "
                           f"where every rank runs {expected}; "
                           "a loader that breaks the equal-share rule (interhand.loaders.shares)")
    totals = readback.read(settings.epoch)[1]
    means = all_reduce_mean({name: value / max(count, 1) for name, value in totals.items()}, context)
    elapsed = time.perf_counter() - epoch_start
    return {**means, "loss_total": sum(means.values()), "iterations": count, "batch_sizes": batch_sizes,
            "images_per_s": images_seen / max(elapsed, 1e-9), "data_wait": data_seconds / max(step_seconds, 1e-9),
            "seconds": elapsed}
