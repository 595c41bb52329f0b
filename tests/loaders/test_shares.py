"""Equal shares: every rank gets the same batches in every epoch (training), every sample once (evaluation).

The 7-sample split is divided by none of the rank counts, and each batch size is either ⌊N/P⌋ or larger than
the smallest share: the cases where a loader giving a rank ⌈share / batch⌉ batches hangs DDP.
"""

from __future__ import annotations

import pytest

from interhand.config import LoaderConfig, ModelConfig
from interhand.geometry.heatmap import heatmap_geometry
from interhand.loaders.build import build_loader
from interhand.loaders.shares import equal_share, equal_share_batch_sizes, left_out_row, rank_range

GEOMETRY = heatmap_geometry(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16))
TOTAL = 7
# (ranks, batch): batch = N // P, and batch > the smallest share
CASES = [(2, 3), (2, 4), (3, 2), (3, 3), (5, 1), (5, 2)]


def _loaders(split_dir, ranks: int, batch_size: int, backend: str, equal_shares: bool, augment: bool = True):
    config = LoaderConfig(backend=backend, device="cpu", batch_size=batch_size, threads=1, augment=augment,
                          shuffle_buffer=4, seed=3)
    return [build_loader(split_dir, config, rank, ranks, with_keys=True, geometry=GEOMETRY,
                         equal_shares=equal_shares) for rank in range(ranks)]


def test_the_rule_in_numbers():
    assert equal_share(7, 3) == 2 and equal_share_batch_sizes(7, 3, 3) == [2]
    assert equal_share_batch_sizes(1_000_010, 4, 16) == [16] * 15625 + [2]  # 250,002 a rank, 2 samples left out
    assert equal_share_batch_sizes(10, 2, 5) == [5]
    with pytest.raises(ValueError, match="7 samples for 8 processes"):
        equal_share(7, 8)
    rows = 4
    assert sorted(left_out_row(0, epoch, 1, rows) for epoch in range(rows)) == list(range(rows))  # each once


@pytest.mark.parametrize("backend", ["reference", "dali"])
@pytest.mark.parametrize("ranks, batch_size", CASES)
def test_training_ranks_get_the_same_batches_every_epoch(synth_ih26m_7_shards, backend, ranks, batch_size):
    split_dir = synth_ih26m_7_shards / "train"
    loaders = _loaders(split_dir, ranks, batch_size, backend, equal_shares=True)
    expected = equal_share_batch_sizes(TOTAL, ranks, batch_size)
    for epoch in (0, 1):
        batches = [_epoch(loader, epoch) for loader in loaders]
        for loader, epoch_batches in zip(loaders, batches):
            assert len(loader) == len(epoch_batches) and [len(b.keys) for b in epoch_batches] == expected, epoch
        seen = [key for epoch_batches in batches for batch in epoch_batches for key in batch.keys]
        assert len(seen) == len(set(seen)) == ranks * (TOTAL // ranks)  # at most P - 1 left out, none twice


def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


@pytest.mark.parametrize("backend", ["reference", "dali"])
@pytest.mark.parametrize("ranks, batch_size", [(2, 4), (3, 2), (5, 2)])
def test_evaluation_ranks_read_every_sample_once_in_batches_never_empty(synth_ih26m_7_shards, backend, ranks,
                                                                        batch_size):
    loaders = _loaders(synth_ih26m_7_shards / "val", ranks, batch_size, backend, equal_shares=False, augment=False)
    keys = []
    for rank, loader in enumerate(loaders):
        promised = len(loader)
        batches = list(loader)
        start, end = rank_range(TOTAL, rank, ranks)
        assert len(batches) == promised == -(-(end - start) // batch_size)
        assert all(batch.keys for batch in batches)
        keys += [key for batch in batches for key in batch.keys]
    assert len(keys) == len(set(keys)) == TOTAL


def test_no_sample_is_always_left_out(synth_ih26m_7_shards):
    """Unshuffled, a larger share's left-out row moves on every epoch: over S + 1 epochs each of its samples is
    left out exactly once."""
    split_dir = synth_ih26m_7_shards / "train"
    loader = _loaders(split_dir, 2, 2, "reference", equal_shares=True, augment=False)[1]  # share of 4, S = 3
    counts: dict[str, int] = {}
    for epoch in range(4):
        for key in (key for batch in _epoch(loader, epoch) for key in batch.keys):
            counts[key] = counts.get(key, 0) + 1
    assert sorted(counts.values()) == [3, 3, 3, 3]
