"""Fixtures of the scoring tests: the synthetic InterHand2.6M shards root and its val split's rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from interhand.eval.score_file import read_rows


@pytest.fixture(scope="module")
def shards_root(synth_ih26m_shards) -> Path:
    return synth_ih26m_shards.parent.parent


@pytest.fixture(scope="module")
def val_rows(synth_ih26m_shards) -> dict:
    return read_rows(synth_ih26m_shards / "val")  # val: the synthetic test split has no interacting frame
