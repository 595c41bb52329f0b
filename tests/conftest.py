"""Session fixtures: tiny synthetic datasets (made once) and the real samples in their real layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interhand.config import SynthConfig
from interhand.synth.run import run as synth_run

from helpers import REAL_SAMPLES, SYNTH_IH26M, SYNTH_IH26M_7, SYNTH_RHD, SYNTH_STB, make_shards


def _make(tmp_path_factory, config: SynthConfig, name: str) -> Path:
    root = tmp_path_factory.mktemp("synth") / name
    synth_run(config, root, show_progress=False)
    return root


@pytest.fixture(scope="session")
def synth_ih26m_root(tmp_path_factory) -> Path:
    """A synthetic InterHand2.6M folder (v1.0 and v0.0 layouts) made with SYNTH_IH26M."""
    return _make(tmp_path_factory, SYNTH_IH26M, "InterHand2.6M")


@pytest.fixture(scope="session")
def synth_stb_root(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, SYNTH_STB, "STB")


@pytest.fixture(scope="session")
def synth_rhd_root(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, SYNTH_RHD, "RHD")


@pytest.fixture(scope="session")
def real_ih26m_root(tmp_path_factory) -> Path:
    """The four real samples rebuilt as an InterHand2.6M v1.0 folder with a `test` split."""
    root = tmp_path_factory.mktemp("real") / "InterHand2.6M"
    annotations = root / "annotations" / "test"
    annotations.mkdir(parents=True)
    data = json.loads((REAL_SAMPLES / "test_interhand2.6m_data.json").read_text())
    for image in data["images"]:
        file_name = f"Capture{image['capture']}/{image['seq_name']}/cam{image['camera']}/image{image['frame_idx']}.jpg"
        target = root / "images" / "test" / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REAL_SAMPLES / image["file_name"], target)
        image["file_name"] = file_name
    (annotations / "InterHand2.6M_test_data.json").write_text(json.dumps(data))
    for kind in ("camera", "joint_3d"):
        shutil.copyfile(REAL_SAMPLES / f"test_interhand2.6m_{kind}.json",
                        annotations / f"InterHand2.6M_test_{kind}.json")
    from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_PARENTS, skeleton_txt

    (root / "annotations" / "skeleton.txt").write_text(skeleton_txt(IH26M_JOINT_NAMES, IH26M_PARENTS))
    return root


def _shards(tmp_path_factory, root: Path, dataset: str, splits: tuple[str, ...], shard_samples: int,
            **options) -> Path:
    """`splits` of the dataset at `root` as shards (`options`: more PreprocessConfig fields); `<this>/<split>/`."""
    out = tmp_path_factory.mktemp("shards")
    for split in splits:
        split_dir = make_shards(out, root, dataset=dataset, split=split, shard_samples=shard_samples, **options)
    return split_dir.parent


@pytest.fixture(scope="session")
def synth_ih26m_shards(tmp_path_factory, synth_ih26m_root) -> Path:
    """Shards of the synthetic InterHand2.6M (train, val, test), 10 samples a shard: `<this>/<split>/`."""
    return _shards(tmp_path_factory, synth_ih26m_root, "interhand26m", ("train", "val", "test"), 10)


@pytest.fixture(scope="session")
def synth_ih26m_progressive_shards(tmp_path_factory, synth_ih26m_root) -> Path:
    """The test split of synth_ih26m_shards written with `--jpeg source`: the rendered frames stored as they are,
    progressive JPEGs (the default re-encodes them as baseline), 10 samples a shard. `<this>/test/`."""
    return _shards(tmp_path_factory, synth_ih26m_root, "interhand26m", ("test",), 10, jpeg="source")


@pytest.fixture(scope="session")
def synth_ih26m_7_shards(tmp_path_factory) -> Path:
    """Train and val splits of 7 samples each, 3 a shard: a size no rank count from 2 to 5 divides (uneven
    DDP shares). `<this>/<split>/`, as synth_ih26m_shards."""
    root = _make(tmp_path_factory, SYNTH_IH26M_7, "InterHand2.6M")
    return _shards(tmp_path_factory, root, "interhand26m", ("train", "val"), 3)


@pytest.fixture(scope="session")
def synth_stb_shards(tmp_path_factory, synth_stb_root) -> Path:
    return _shards(tmp_path_factory, synth_stb_root, "stb", ("test",), 4)


@pytest.fixture(scope="session")
def synth_rhd_shards(tmp_path_factory, synth_rhd_root) -> Path:
    """RHD's train split (no RootNet outputs) and test split (with them), 4 samples a shard: `<this>/<split>/`."""
    return _shards(tmp_path_factory, synth_rhd_root, "rhd", ("train", "test"), 4)


@pytest.fixture(scope="session")
def real_test_shards(tmp_path_factory, real_ih26m_root) -> Path:
    """Shards of the four real samples (the test split)."""
    return make_shards(tmp_path_factory.mktemp("shards"), real_ih26m_root, split="test")


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA (and DALI's view of it); skip them on machines without one."""
    import torch

    from interhand.loaders.dali_pipeline import cuda_device_count

    if torch.cuda.is_available() and cuda_device_count():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
