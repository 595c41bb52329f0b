"""GPU paths (skipped without CUDA): DALI `mixed` decode against the reference loader, and a training
step with bf16 autocast and channels_last on DALI batches that stay on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhand.config import LoaderConfig, ModelConfig
from interhand.loaders.augment import draw_augment_params_array
from interhand.loaders.batch import images_to_float
from interhand.loaders.dali_loader import DaliLoader
from interhand.loaders.dali_pipeline import DaliPipelineSpec
from interhand.loaders.reference import ReferenceDataset, ReferenceLoader, shard_list
from interhand.model import InterNet, internet_losses
from interhand.train.loop import batch_targets

pytestmark = pytest.mark.gpu

# nvJPEG's IDCT and the GPU warp round differently from libjpeg-turbo and OpenCV; targets must not differ.
GPU_IMAGE_MEAN_ABS_TOLERANCE = 1.5


def test_dali_mixed_decode_batches_match_the_reference_loader(synth_ih26m_shards):
    shards = shard_list(synth_ih26m_shards / "val")
    table = draw_augment_params_array(np.random.default_rng(0), shards.total)
    position = {"next": 0}

    def params():
        rows = [table[(position["next"] + k) % len(table)] for k in range(4)]
        position["next"] += 4
        return rows

    spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=4, num_threads=2, device="gpu", with_keys=True)
    gpu = DaliLoader(spec, params)
    reference = ReferenceLoader(ReferenceDataset(shards, LoaderConfig(batch_size=4, workers=0, augment=False),
                                                 params_for=lambda index: table[index]))
    for dali_batch, reference_batch in zip(gpu, reference, strict=True):
        assert dali_batch.image.is_cuda and dali_batch.keys == reference_batch.keys
        torch.testing.assert_close(dali_batch.joints_voxel, reference_batch.joints_voxel, atol=1e-4, rtol=0)
        difference = (dali_batch.image.cpu().int() - reference_batch.image.int()).abs().float()
        assert difference.mean() < GPU_IMAGE_MEAN_ABS_TOLERANCE


def test_a_bf16_channels_last_training_step_runs_and_is_finite(synth_ih26m_shards):
    from interhand.loaders.build import build_loader

    model = InterNet(ModelConfig(resnet_type=18, amp=True, channels_last=True)).cuda()
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = next(iter(build_loader(synth_ih26m_shards / "train", LoaderConfig(batch_size=8, augment=True))))
    assert batch.image.is_cuda  # DALI handed the patches over without a host copy
    images = images_to_float(batch.image, batch.colour, "cuda")
    losses = internet_losses(model(images), batch_targets(batch, torch.device("cuda")), 2.5)
    total = sum(losses.values())
    total.backward()
    optimizer.step()
    assert torch.isfinite(total)
