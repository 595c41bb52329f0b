"""One training epoch on the GPU (skipped without CUDA): `train_one_epoch` of a small InterNet under
DistributedDataParallel in a one-process NCCL group, bf16 autocast and channels_last, on DALI `mixed` batches from
`build_loader` that never leave the GPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from interhand.config import LoaderConfig, ModelConfig
from interhand.geometry.heatmap import heatmap_geometry
from interhand.loaders.build import build_loader
from interhand.loaders.shard_list import shard_list
from interhand.model import build_internet, prepare_for_device
from interhand.runtime.ddp import DistContext, weights_digest
from interhand.train.log import RunLog, read_log
from interhand.train.loop import LOSS_NAMES, LoopSettings, train_one_epoch

pytestmark = pytest.mark.gpu


class _BatchRecorder:
    """A ShardLoader that passes its loader's batches on and records, per batch, where its patches were and
    their shape: what the trainer was handed."""

    def __init__(self, loader):
        self.loader, self.backend, self.device = loader, loader.backend, loader.device
        self.devices: list[torch.device] = []
        self.shapes: list[tuple[int, ...]] = []

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def iter_from(self, batch: int):
        for item in self.loader.iter_from(batch):
            self.devices.append(item.image.device)
            self.shapes.append(tuple(item.image.shape))
            yield item

    def __iter__(self):
        return self.iter_from(0)


def _watch_backbone(model) -> list[dict]:
    """Hooks on the backbone recording, per forward, its input's device, dtype and layout and its output's dtype:
    proof that the batch reached the network on the GPU, channels_last, under bf16 autocast."""
    seen: list[dict] = []

    def before(module, inputs):
        images = inputs[0]
        seen.append({"device": images.device, "dtype": images.dtype,
                     "channels_last": images.is_contiguous(memory_format=torch.channels_last)})

    def after(module, inputs, output):
        seen[-1]["output_dtype"] = output.dtype

    model.backbone_net.register_forward_pre_hook(before)
    model.backbone_net.register_forward_hook(after)
    return seen


def test_one_training_epoch_under_a_one_process_nccl_group_on_dali_gpu_batches(synth_ih26m_shards, tmp_path):
    """ResNet-18 InterNet at 64 px (16³ heatmaps), bf16 autocast, channels_last, DDP over NCCL (world size 1: DDP
    still all-reduces every gradient through the group), DALI `mixed` batches in equal shares: the epoch runs its
    steps, its loss terms are finite and nonzero, the weights move, and every batch reached the network on the GPU,
    channels_last, and ran under bf16 autocast."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model_config = ModelConfig(resnet_type=18, input_size=64, heatmap_size=16, amp=True, channels_last=True)
    loader_config = LoaderConfig(backend="dali", device="gpu", batch_size=8, threads=2, shuffle_buffer=16)
    # val, not train: the synthetic train split's interacting samples carry no left-hand annotation, so nothing there
    # supervises the relative root depth and that loss term would be 0 throughout; val has 4 that do.
    split_dir = synth_ih26m_shards / "val"
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", store=dist.FileStore(str(tmp_path / "nccl_store"), 1), rank=0, world_size=1)
    try:
        assert dist.get_backend() == "nccl"
        context = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cuda", 0))
        torch.manual_seed(0)
        model = build_internet(model_config)
        module = DistributedDataParallel(prepare_for_device(model, context.device), device_ids=[0])
        forwards = _watch_backbone(model)
        loader = _BatchRecorder(build_loader(split_dir, loader_config, geometry=heatmap_geometry(model_config),
                                             equal_shares=True, gpu_index=0))
        settings = LoopSettings(epoch=0, lr=1e-4, sigma=model_config.sigma, heatmap_loss=model_config.loss,
                                log_every=2, steps_per_epoch=len(loader), channels_last=True)
        before = weights_digest(model)
        summary = train_one_epoch(module, loader, torch.optim.Adam(model.parameters(), lr=settings.lr),
                                  RunLog(tmp_path / "log"), context, settings)
        torch.cuda.synchronize()
    finally:
        dist.destroy_process_group()
    total = shard_list(split_dir).total
    assert summary["iterations"] == settings.steps_per_epoch == math.ceil(total / 8) == len(forwards)
    assert sum(rows * count for rows, count in summary["batch_sizes"].items()) == total  # one process: every sample
    assert all(0 < summary[f"loss_{name}"] < math.inf for name in LOSS_NAMES), summary  # every term supervised
    logged = [entry for entry in read_log(tmp_path / "log" / "train_log.jsonl") if entry["kind"] == "step"]
    assert len(logged) == settings.steps_per_epoch // 2
    assert all(math.isfinite(entry[f"loss_{name}"]) for entry in logged for name in LOSS_NAMES), logged
    assert weights_digest(model) != before
    assert set(loader.devices) == {torch.device("cuda", 0)}  # DALI's patches, handed over without a host copy
    assert all(shape[1:] == (3, 64, 64) for shape in loader.shapes), loader.shapes
    assert all(forward == {"device": torch.device("cuda", 0), "dtype": torch.float32, "channels_last": True,
                           "output_dtype": torch.bfloat16} for forward in forwards), forwards
