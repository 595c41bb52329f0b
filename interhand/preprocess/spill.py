"""The spill files of `interhand shards`: what ingest writes to disk and the shard writers read back.

One entry per sample: its `.ann` record (ANN_BYTES, the shard's own encoding) followed by its pickled SampleInfo.
Entries are addressed by (spill file index, offset, length); a spill file lives only as long as its job.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import IO, Optional

import numpy as np

from interhand.outputs import create_temporary
from interhand.shard_format.ann_codec import ANN_BYTES, ANN_DTYPE, ANN_FLOATS, encode_ann_records
from interhand.shard_format.sample import Sample, SampleInfo

__all__ = ["open_spill", "spill_entries", "read_spilled"]


def open_spill(path: Optional[Path]) -> IO:
    """A new spill file at `path`, open for writing (a link planted at its name is refused, never followed), or
    /dev/null when `path` is None (a pass that only counts)."""
    return create_temporary(path) if path is not None else open(os.devnull, "wb")


def spill_entries(samples: list[Sample]) -> list[bytes]:
    """The spill entry of each sample (their `.ann` records packed at once)."""
    return [ann.tobytes() + pickle.dumps(sample.info(), protocol=pickle.HIGHEST_PROTOCOL)
            for sample, ann in zip(samples, encode_ann_records(samples))]


def read_spilled(spills: list, records: tuple) -> tuple[np.ndarray, list[SampleInfo]]:
    """The `.ann` records, (n, ANN_FLOATS) float32, and SampleInfos of spilled samples ((spill file index,
    offset, length), ...), read from the open `spills`."""
    anns, infos = bytearray(), []
    for file, offset, length in records:
        spill = spills[file]
        spill.seek(offset)
        data = spill.read(length)
        anns += data[:ANN_BYTES]
        infos.append(pickle.loads(data[ANN_BYTES:]))
    return np.frombuffer(bytes(anns), ANN_DTYPE).reshape(len(infos), ANN_FLOATS), infos
