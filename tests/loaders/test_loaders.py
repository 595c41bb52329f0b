"""The DALI pipeline (CPU twin) against the reference loader on the same shards and parameters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from interhand.config import LoaderConfig
from interhand.loaders.augment import counter_params
from interhand.loaders.batch import Batch
from interhand.loaders.build import build_loader, resolve_backend
from interhand.loaders.dali_loader import DaliLoader
from interhand.loaders.dali_pipeline import DaliPipelineSpec, build_pipeline
from interhand.loaders.reference import ReferenceDataset, ReferenceLoader, ShardReader
from interhand.loaders.shard_list import TarIndex, shard_list
from interhand.loaders.shares import rank_range
from interhand.shard_format.dali_index import read_dali_index

from helpers import FIXED_PARAMS, compare_batches, fixed_params_dali_loader, params_table

# Measured on the synthetic shards: the reference loader warps with OpenCV, DALI with its own warp; both
# round to nearest and pad with black, and they agree to within 1 grey level (mean 0.001: a few pixels
# where the two fixed-point interpolations round differently). Targets and masks agree to 1e-4 (helpers).
IMAGE_MEAN_ABS_TOLERANCE = 0.01
IMAGE_MAX_ABS_TOLERANCE = 1.0


def _both_loaders(split_dir, batch_size=4, seed=0):
    shards = shard_list(split_dir)
    table = params_table(shards.total, seed)
    dali = fixed_params_dali_loader(shards, table, batch_size, "cpu")
    reference = ReferenceLoader(ReferenceDataset(shards, LoaderConfig(batch_size=batch_size, threads=0, augment=False),
                                                 params_for=lambda index: table[index]))
    return dali, reference


def _assert_batches_agree(dali, reference):
    seen, difference = compare_batches(dali, reference)
    assert difference.mean() < IMAGE_MEAN_ABS_TOLERANCE
    assert difference.max() <= IMAGE_MAX_ABS_TOLERANCE
    return seen


@pytest.mark.parametrize("split", ["train", "val"])
def test_dali_cpu_and_reference_batches_agree_on_interhand(synth_ih26m_shards, split):
    dali, reference = _both_loaders(synth_ih26m_shards / split)
    assert _assert_batches_agree(dali, reference) == shard_list(synth_ih26m_shards / split).total


def test_dali_cpu_and_reference_batches_agree_on_stb_and_rhd_pngs(synth_stb_shards, synth_rhd_shards):
    for split_dir in (synth_stb_shards / "test", synth_rhd_shards / "train"):
        dali, reference = _both_loaders(split_dir, seed=3)
        assert _assert_batches_agree(dali, reference) > 0


def test_the_reference_reader_holds_each_index_as_arrays_that_locate_what_the_index_file_lists(synth_ih26m_shards):
    """#31: no Python tuple per sample is kept (a full split's would be GBs): offsets, sizes and keys are arrays."""
    shards = shard_list(synth_ih26m_shards / "val")
    reader = ShardReader(shards)
    try:
        index, _ = reader._tar(0)
        assert isinstance(index, TarIndex) and index.offsets.dtype == np.int64 and index.sizes.dtype == np.int32
        entries = read_dali_index(shards.index_paths[0])
        assert [index.sample(row) for row in range(len(index))] == entries and len(entries) > 1
        key, members = reader.read(1, ("ann",))
        assert key == entries[1][0] and set(members) == {"ann"} and len(members["ann"]) == entries[1][1]["ann"][1]
    finally:
        reader.close()


def test_rootnet_box_is_used_when_asked(synth_ih26m_shards):
    shards = shard_list(synth_ih26m_shards / "test")
    config = LoaderConfig(batch_size=4, threads=0, augment=False)
    gt = next(iter(ReferenceLoader(ReferenceDataset(shards, replace(config, box="gt")))))
    rootnet = next(iter(ReferenceLoader(ReferenceDataset(shards, replace(config, box="rootnet")))))
    # RootNet's boxes are the GT boxes through process_bbox, which the GT path applies too: same patches.
    torch.testing.assert_close(gt.patch_to_flipped_img, rootnet.patch_to_flipped_img, atol=1e-3, rtol=0)


@pytest.mark.parametrize("backend", ["reference", "dali"])
def test_rootnet_box_on_a_split_without_rootnet_outputs_is_one_clear_error(synth_ih26m_shards, backend):
    # The train split has no RootNet outputs: its boxes are zeros, and cropping them used to end in
    # "cannot convert float NaN to integer" deep in the decoder.
    config = LoaderConfig(backend=backend, device="cpu", batch_size=4, threads=1, augment=False, box="rootnet")
    with pytest.raises(ValueError,
                       match=r"train: \d+ of \d+ samples have no RootNet box \(first: .+\); use the GT box"):
        build_loader(synth_ih26m_shards / "train", config)


@pytest.mark.parametrize("backend", ["reference", "dali"])
def test_two_ranks_see_disjoint_samples_that_cover_the_split(synth_ih26m_shards, backend):
    split_dir = synth_ih26m_shards / "val"
    total = shard_list(split_dir).total
    config = LoaderConfig(backend=backend, device="cpu", batch_size=4, threads=2, augment=False)
    keys = []
    for rank in range(2):
        loader = build_loader(split_dir, config, rank=rank, world_size=2, with_keys=True)
        rank_keys = [key for batch in loader for key in batch.keys]
        start, end = rank_range(total, rank, 2)
        assert len(rank_keys) == end - start == len(set(rank_keys))
        keys.append(set(rank_keys))
    assert not keys[0] & keys[1]
    assert len(keys[0] | keys[1]) == total


def test_colour_is_applied_on_the_batch_as_the_original_does_in_float():
    from interhand.loaders.batch import images_to_float

    image = torch.tensor([[[[100]], [[200]], [[250]]]], dtype=torch.uint8)
    out = images_to_float(image, torch.tensor([[1.1, 0.9, 1.2]]))
    torch.testing.assert_close(out.flatten(), torch.tensor([110 / 255, 180 / 255, 1.0]))


def test_training_loaders_shuffle_and_redraw_each_epoch(synth_ih26m_shards):
    config = LoaderConfig(backend="reference", device="cpu", batch_size=8, threads=0, augment=True, shuffle_buffer=16)
    loader = build_loader(synth_ih26m_shards / "train", config)
    loader.set_epoch(0)
    first = next(iter(loader))
    loader.set_epoch(1)
    second = next(iter(loader))
    assert first.keys != second.keys
    assert first.image.shape == (8, 3, 256, 256) and first.image.dtype == torch.uint8


def test_reference_loader_with_workers_gives_each_sample_once(synth_ih26m_shards):
    config = LoaderConfig(backend="reference", device="cpu", batch_size=5, threads=2, augment=False)
    keys = [key for batch in build_loader(synth_ih26m_shards / "val", config) for key in batch.keys]
    assert len(keys) == len(set(keys)) == shard_list(synth_ih26m_shards / "val").total


def test_reference_batches_do_not_depend_on_the_number_of_threads(synth_ih26m_shards):
    config = LoaderConfig(backend="reference", device="cpu", batch_size=5, augment=True, shuffle_buffer=16, seed=4)
    runs = [list(build_loader(synth_ih26m_shards / "train", replace(config, threads=workers))) for workers in (0, 1, 3)]
    assert sum(len(batch.keys) for batch in runs[0]) == shard_list(synth_ih26m_shards / "train").total
    for batches in runs[1:]:
        for expected, got in zip(runs[0], batches, strict=True):
            assert expected.keys == got.keys
            torch.testing.assert_close(expected.image, got.image, atol=0, rtol=0)
            torch.testing.assert_close(expected.joints_voxel, got.joints_voxel, atol=0, rtol=0)


def test_reference_loader_survives_a_consumer_that_stops_early(synth_ih26m_shards):
    loader = build_loader(synth_ih26m_shards / "val", LoaderConfig(backend="reference", device="cpu", batch_size=2,
                                                                   threads=2))
    for _ in loader:
        break  # as a trainer with steps_per_epoch does: the pool must stop and the next epoch start clean
    assert sum(len(batch.keys) for batch in loader) == shard_list(synth_ih26m_shards / "val").total == len(
        loader.dataset)


def test_reference_loader_names_the_shard_when_an_index_lies(synth_ih26m_shards, tmp_path):
    import shutil

    copy = tmp_path / "val"
    shutil.copytree(synth_ih26m_shards / "val", copy)
    index = next(copy.glob("*.idx"))
    lines = index.read_text().splitlines()
    index.write_text("\n".join([f"v1.2 {int(lines[0].split()[1]) - 1}"] + lines[1:-1]) + "\n")
    with pytest.raises(ValueError, match=f"{index.name}: header 'v1.2 .*', the manifest lists"):  # at open
        build_loader(copy, LoaderConfig(backend="reference", device="cpu", batch_size=4, threads=2))


@pytest.mark.parametrize("gpus", [0, 1])
def test_backend_resolution_follows_the_job_and_the_machine(gpus, monkeypatch):
    """The same answers on a GPU host as here: DALI's count of GPUs is set for the test."""
    import interhand.loaders.build as build

    monkeypatch.setattr(build, "cuda_device_count", lambda: gpus)
    # A CPU job decodes on the CPU, whatever the machine has (no silent decoding on GPU 0).
    assert resolve_backend(LoaderConfig(), on_gpu=False) == ("reference", "cpu")
    assert resolve_backend(LoaderConfig(backend="dali"), on_gpu=False) == ("dali", "cpu")
    # The reference loader decodes on the CPU: with device auto it is never refused for a GPU job.
    assert resolve_backend(LoaderConfig(backend="reference"), on_gpu=True) == ("reference", "cpu")
    # A GPU job decodes on the GPU when DALI sees one.
    assert resolve_backend(LoaderConfig(), on_gpu=True) == (("dali", "gpu") if gpus else ("reference", "cpu"))
    if gpus:
        assert resolve_backend(LoaderConfig(device="gpu")) == ("dali", "gpu")
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_backend(LoaderConfig(device="gpu"))


def test_gpu_graph_with_mixed_decode_builds_statically(synth_ih26m_shards):
    """Without a driver a GPU graph cannot run, but it can be defined and serialized: a static check."""
    shards = shard_list(synth_ih26m_shards / "val")
    spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=4, num_threads=1, device="gpu")
    pipeline = build_pipeline(spec, None, device_id=None)
    assert b"mixed" in pipeline.serialize() or "mixed" in str(pipeline.serialize())


@pytest.mark.parametrize("roi_decode", [True, False])
def test_mixed_decoders_upsample_chroma_as_the_cpu_ones(synth_ih26m_shards, roi_decode):
    """nvJPEG's default chroma upsampling is not libjpeg-turbo's "fancy" one (the CPU twin's, the reference loader's,
    OpenCV's): both GPU decoders (ROI and whole frame) ask for it; the CPU decoder, which has it, is not given it."""
    shards = shard_list(synth_ih26m_shards / "val")
    graphs = {device: build_pipeline(DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=4, num_threads=1,
                                                      device=device, roi_decode=roi_decode), None,
                                     device_id=None).serialize() for device in ("gpu", "cpu")}
    assert b"jpeg_fancy_upsampling" in graphs["gpu"]
    assert b"jpeg_fancy_upsampling" not in graphs["cpu"]


def _numpy_crop_geometry(boxes: np.ndarray, image_wh: np.ndarray, params: np.ndarray, size: int):
    """The graph's map and ROI in float64 from the reference geometry: `augmented_patch_affines`' img_to_patch, inverted
    and moved to DALI's pixel-corner frame, its patch corners' bounding box + 2 px, clipped to the image."""
    from interhand.loaders.augment import augmented_patch_affines

    img_to_patch = augmented_patch_affines(boxes, image_wh[:, 0], params, size)[0]
    square = np.concatenate([img_to_patch, np.tile([[[0.0, 0.0, 1.0]]], (len(boxes), 1, 1))], 1)
    half_pixel = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    patch_to_image = half_pixel @ np.linalg.inv(square) @ np.linalg.inv(half_pixel)
    corners = np.array([[0.0, 0.0, 1.0], [size, 0.0, 1.0], [0.0, size, 1.0], [size, size, 1.0]])
    image_corners = np.einsum("bij,kj->bki", patch_to_image[:, :2], corners)
    low, high = image_corners.min(1), image_corners.max(1)
    start = np.clip(np.floor(low) - 2.0, 0.0, image_wh - 1.0)
    end = np.clip(np.ceil(high) + 2.0, start + 1.0, image_wh)
    patch_to_image[:, :2, 2] -= start
    return patch_to_image[:, :2], start, end - start, np.concatenate([low, high], 1)


def test_dali_crop_geometry_matches_the_reference_geometry_in_float64():
    """The map and ROI the graph computes, against `_numpy_crop_geometry`: the parity tests see the map only through
    the pixels, and an ROI larger than needed not at all. Boxes, frames and the parameters (the hand-picked cases,
    then draws with shifts and scales wide enough to leave the frame on every side) are made up per sample."""
    from nvidia.dali import fn, pipeline_def, types

    from interhand.loaders.dali_pipeline import _crop_geometry
    from interhand.shard_format.ann_codec import ANN_FLOATS, ANN_LAYOUT

    rng, size, count = np.random.default_rng(5), 256, 64
    params = params_table(count, seed=5)
    params[len(FIXED_PARAMS):, 0:2] = rng.uniform(-1.5, 1.5, (count - len(FIXED_PARAMS), 2))  # shift, in box sizes
    params[len(FIXED_PARAMS):, 2] = rng.uniform(0.3, 3.0, count - len(FIXED_PARAMS))  # scale
    image_wh = np.where(rng.random((count, 1)) < 0.5, [512.0, 334.0], [334.0, 512.0])
    boxes = np.concatenate([rng.uniform(0.0, 0.6, (count, 2)), rng.uniform(0.1, 0.5, (count, 2))], 1)
    boxes *= np.tile(image_wh, 2)
    records = np.zeros((count, ANN_FLOATS), np.float32)
    for name, values in (("bbox", boxes), ("image_size_px", image_wh)):
        offset, _ = ANN_LAYOUT[name]
        records[:, offset:offset + values.shape[1]] = values
    offset, _ = ANN_LAYOUT["bbox"]
    boxes = records[:, offset:offset + 4].astype(np.float64)  # what the graph reads: float32

    @pipeline_def(batch_size=count, num_threads=1, device_id=None)
    def geometry():
        ann = fn.external_source(source=lambda: list(records), batch=True, dtype=types.FLOAT, ndim=1)
        batch_params = fn.external_source(source=lambda: list(params), batch=True, dtype=types.FLOAT, ndim=1)
        return _crop_geometry(ann, batch_params, "gt", size, roi_decode=True)

    pipe = geometry()
    pipe.build()
    matrix, start, extent = (np.stack([np.asarray(sample) for sample in output]) for output in pipe.run())
    want_matrix, want_start, want_extent, extremes = _numpy_crop_geometry(boxes, image_wh, params.astype(np.float64),
                                                                         size)
    np.testing.assert_allclose(matrix, want_matrix, rtol=0, atol=1e-3)
    # float32 against float64 may round a bound the other way only where a corner lies on a pixel edge: none here
    assert np.abs(extremes - np.round(extremes)).min() > 1e-3
    np.testing.assert_array_equal(start, want_start)
    np.testing.assert_array_equal(extent, want_extent)
    end = start + extent  # every clip was exercised: start raised to 0, lowered to W − 1, end lowered to W, raised to 1
    assert (start == 0).any() and (start == image_wh - 1).any() and (end == image_wh).any() and (end == 1).any()


def test_preview_batch_command_draws_augmented_batches(synth_ih26m_shards, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from interhand.cli import main

    out = tmp_path / "batch.png"
    result = CliRunner().invoke(main, ["preview-batch", str(synth_ih26m_shards / "train"), "--batch-size", "4",
                                       "--workers", "0", "--batches", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reference loader on the cpu" in result.output
    width, height = Image.open(out).size
    assert width >= 8 * 256 and 256 < height < 2 * 256  # one row of 8 captioned tiles under a title


def test_preview_batch_on_a_folder_without_shards_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from interhand.cli import main

    result = CliRunner().invoke(main, ["preview-batch", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "dataset.json not found" in result.output


@pytest.mark.parametrize("backend", ["reference", "dali"])
def test_both_backends_keep_the_shard_loader_contract(synth_ih26m_shards, backend):
    """What train and eval rely on (`ShardLoader`): len() batches an epoch, every sample once in eval order,
    `iter_from(k)` the same epoch's batches from k on, and the backend and device it says."""
    split = synth_ih26m_shards / "val"
    loader = build_loader(split, LoaderConfig(backend=backend, device="cpu", batch_size=5, augment=False, threads=0),
                          with_keys=True)
    assert (loader.backend, loader.device) == (backend, "cpu")
    samples = shard_list(split).total
    loader.set_epoch(0)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-samples // 5)
    assert [len(batch.keys) for batch in batches] == [5] * (samples // 5) + ([samples % 5] if samples % 5 else [])
    keys = [key for batch in batches for key in batch.keys]
    assert len(set(keys)) == samples and all(isinstance(batch, Batch) for batch in batches)
    loader.set_epoch(0)
    assert [batch.keys for batch in loader.iter_from(2)] == [batch.keys for batch in batches[2:]]


def test_dali_draws_the_reference_loaders_augmentation_epoch_after_epoch(synth_ih26m_shards):
    """Unshuffled, a sample's position is its index: both loaders give it the same counter draw, every epoch."""
    shards = shard_list(synth_ih26m_shards / "val")
    config = LoaderConfig(batch_size=4, threads=0, augment=True, shuffle_buffer=1, seed=7)
    reference = ReferenceLoader(ReferenceDataset(shards, config))
    spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=4, num_threads=2, device="cpu", with_keys=True)
    dali = DaliLoader(spec, augment_seed=7)
    for epoch in (3, 4):
        dali.set_epoch(epoch)
        reference.set_epoch(epoch)
        batches = list(zip(dali, reference, strict=True))
        for dali_batch, reference_batch in batches:
            torch.testing.assert_close(dali_batch.params, reference_batch.params, atol=0, rtol=0)
        assert _assert_batches_agree(*zip(*batches)) == shards.total
    assert not torch.equal(batches[0][0].params, next(iter(dali)).params)  # epoch 5 draws afresh


def test_dali_ranks_key_the_augmentation_on_the_share_their_reader_moves_to(synth_ih26m_shards):
    """DALI moves each rank to the next share every epoch and pads every share to the largest one's batches;
    the draw follows the samples it actually reads. 48 samples on 5 ranks: shares of 9 and 10, in batches of 3
    a share of 9 gets a whole batch of padding."""
    split_dir = synth_ih26m_shards / "val"
    shards = shard_list(split_dir)
    config = LoaderConfig(batch_size=4, threads=0, augment=False)
    index_of = {key: index for index, key in enumerate(k for b in ReferenceLoader(ReferenceDataset(shards, config))
                                                        for k in b.keys)}
    assert shards.total == 48
    for rank in range(2):
        spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=3, num_threads=1, device="cpu",
                                shard_id=rank, num_shards=5, with_keys=True)
        loader = DaliLoader(spec, augment_seed=5)
        loader.set_epoch(10)
        for epoch in (10, 11, 12):
            batches = list(loader)
            for batch in batches:
                indices = np.array([index_of[key] for key in batch.keys])
                np.testing.assert_array_equal(batch.params.numpy(), counter_params(5, epoch, indices))
            start, end = rank_range(shards.total, (rank + epoch - 10) % 5, 5)
            assert [index_of[key] for batch in batches for key in batch.keys] == list(range(start, end))

