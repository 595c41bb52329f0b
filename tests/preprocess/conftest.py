"""Shards made from the shared synthetic and real datasets (tests/conftest.py), for the tests here."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_shards


@pytest.fixture(scope="session")
def ih26m_train_shards(tmp_path_factory, synth_ih26m_root) -> Path:
    return make_shards(tmp_path_factory.mktemp("shards"), synth_ih26m_root, split="train", shard_samples=16, workers=2)


@pytest.fixture(scope="session")
def ih26m_val_shards(tmp_path_factory, synth_ih26m_root) -> Path:
    return make_shards(tmp_path_factory.mktemp("shards"), synth_ih26m_root, split="val", shard_samples=40)


@pytest.fixture(scope="session")
def stb_test_shards(tmp_path_factory, synth_stb_root) -> Path:
    return make_shards(tmp_path_factory.mktemp("shards"), synth_stb_root, dataset="stb", split="test")


@pytest.fixture
def hf_datasets(tmp_path, monkeypatch):
    """Hugging Face `datasets`, offline, caching under tmp_path (nothing in ~/.cache)."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return datasets
