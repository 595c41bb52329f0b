"""The reference loader: plain webdataset + OpenCV + NumPy, in a torch DataLoader.

The readable twin of the DALI pipeline and the CPU path. It reads the same shards, gives each rank the
same contiguous share of the split as DALI's `fn.readers.webdataset(shard_id, num_shards)` does, warps
each sample with the one patch geometry (`interhand.loaders.augment`) and computes the targets of a whole
batch at once with the function the DALI loader uses.
A sample's augmentation parameters come from a generator seeded by (seed, epoch, sample index), so a
sample is augmented alike whatever the number of workers or ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import cv2
import numpy as np
import torch
import webdataset as wds

from interhand.geometry.heatmap import ORIGINAL_GEOMETRY, HeatmapGeometry
from interhand.manifests.read import read_dataset_json
from interhand.loaders.augment import (IDENTITY, PARAMS_LENGTH, draw_augment_params_array, params_to_array,
                                       patch_affines, warp_patch)
from interhand.loaders.batch import Batch, make_batch, targets_from_records
from interhand.shard_format import ANN_DTYPE, ANN_FLOATS, ANN_LAYOUT, ANN_MEMBER, IMAGE_MEMBERS, decode_ann_records

__all__ = ["ShardList", "shard_list", "rank_range", "ReferenceDataset", "Collate", "decode_image", "reference_loader",
           "sample_params"]


@dataclass(frozen=True)
class ShardList:
    """The tars of one split in order, with their sample counts (from dataset.json)."""

    paths: tuple[str, ...]
    counts: tuple[int, ...]
    index_paths: tuple[str, ...] = ()  # DALI index files (wds2idx format), beside the tars

    @property
    def total(self) -> int:
        return sum(self.counts)


def rank_range(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, end) of a rank's contiguous share, as DALI's reader splits with shard_id/num_shards."""
    return total * rank // world_size, total * (rank + 1) // world_size


def sample_params(seed: int, epoch: int, index: int) -> np.ndarray:
    """(8,) augmentation parameters of sample `index` in `epoch`: the same in every loader configuration."""
    return draw_augment_params_array(np.random.default_rng([seed, epoch, index]), 1)[0]


class ReferenceDataset(torch.utils.data.IterableDataset):
    """Yields one dict per sample (patch, targets, key) for this rank and DataLoader worker."""

    def __init__(self, shards: ShardList, rank: int = 0, world_size: int = 1, augment: bool = False, seed: int = 0,
                 box: str = "gt", shuffle_buffer: int = 0, geometry: HeatmapGeometry = ORIGINAL_GEOMETRY,
                 params_for: Optional[Callable[[int], np.ndarray]] = None):
        super().__init__()
        self.shards, self.rank, self.world_size = shards, rank, world_size
        self.augment, self.seed, self.box, self.geometry = augment, seed, box, geometry
        self.shuffle_buffer, self.params_for = shuffle_buffer, params_for
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        start, end = rank_range(self.shards.total, self.rank, self.world_size)
        return end - start

    def _params(self, index: int) -> np.ndarray:
        if self.params_for is not None:
            return np.asarray(self.params_for(index), dtype=np.float32).reshape(PARAMS_LENGTH)
        return sample_params(self.seed, self.epoch, index) if self.augment else params_to_array(IDENTITY)

    def _indexed_members(self) -> Iterator[tuple[int, dict]]:
        """(global index, members) of this rank's and worker's samples, in shard order."""
        start, end = rank_range(self.shards.total, self.rank, self.world_size)
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        offsets = np.concatenate([[0], np.cumsum(self.shards.counts)])
        tars = [i for i in range(len(self.shards.paths)) if offsets[i] < end and offsets[i + 1] > start]
        for tar in tars:
            # Each tar is read on its own, so the global index of its samples is known exactly.
            stream = wds.WebDataset([self.shards.paths[tar]], shardshuffle=False, nodesplitter=lambda urls: urls,
                                    workersplitter=lambda urls: urls, empty_check=False)
            for position, members in enumerate(stream):
                index = int(offsets[tar]) + position
                if start <= index < end and (index - start) % workers == worker:
                    yield index, members

    def _shuffled(self, items: Iterator) -> Iterator:
        if not self.augment or self.shuffle_buffer <= 1:
            yield from items
            return
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, info.id if info else 0])
        buffer = []
        for item in items:
            buffer.append(item)
            if len(buffer) >= self.shuffle_buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))
        while buffer:
            yield buffer.pop(int(rng.integers(len(buffer))))

    def __iter__(self) -> Iterator[dict]:
        # DataLoader workers are the parallelism; OpenCV's own thread pool would only oversubscribe the cores.
        cv2.setNumThreads(1)
        for index, members in self._shuffled(self._indexed_members()):
            yield self._sample(index, members)

    def _sample(self, index: int, members: dict) -> dict:
        """Decode and warp one sample; its targets are computed for the whole batch in `Collate`."""
        key = members["__key__"]
        image_member = next((name for name in IMAGE_MEMBERS if name in members), None)
        if image_member is None or ANN_MEMBER not in members:
            raise ValueError(f"{members.get('__url__', '?')}: sample {key} lacks an image or its .{ANN_MEMBER} record")
        ann = np.frombuffer(members[ANN_MEMBER], dtype=ANN_DTYPE)
        if ann.size != ANN_FLOATS:
            raise ValueError(f"{key}.{ANN_MEMBER}: {ann.size * 4} bytes, expected {ANN_FLOATS * 4}")
        pixels = decode_image(members[image_member], f"{key}.{image_member}")
        params = self._params(index)
        box_field = "bbox" if self.box == "gt" else "rootnet_bbox"
        offset = ANN_LAYOUT[box_field][0]
        img_to_patch, _, _ = patch_affines(ann[offset:offset + 4][None], np.array([pixels.shape[1]]), params[None],
                                           self.geometry.input_size)
        return {"image": warp_patch(pixels, img_to_patch[0], self.geometry.input_size), "ann": ann, "params": params,
                "key": key}


def decode_image(data: bytes, where: str) -> np.ndarray:
    """JPEG/PNG bytes → (H, W, 3) uint8 RGB, EXIF orientation ignored (the original's cv2.imread flags).

    OpenCV's libjpeg-turbo decodes the progressive InterHand2.6M JPEGs 1.8× faster here than Pillow-SIMD.
    """
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ValueError(f"{where}: not a decodable image")
    return image


class Collate:
    """Stack samples into a Batch; targets for the whole batch at once (the DALI loader's function)."""

    def __init__(self, box: str = "gt", geometry: HeatmapGeometry = ORIGINAL_GEOMETRY):
        self.box, self.geometry = box, geometry

    def __call__(self, samples: list[dict]) -> Batch:
        fields = decode_ann_records(np.stack([s["ann"] for s in samples]), "reference batch")
        params = np.stack([s["params"] for s in samples])
        targets, inv_trans = targets_from_records(fields, params, self.box, self.geometry)
        images = torch.from_numpy(np.stack([s["image"] for s in samples]))
        return make_batch(images, targets, fields["hand_type_valid"], inv_trans, params[:, 5:8],
                          [s["key"] for s in samples])


def reference_loader(dataset: ReferenceDataset, batch_size: int, workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader over the dataset; the last batch may be smaller (eval: every sample exactly once)."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                       collate_fn=Collate(dataset.box, dataset.geometry),
                                       persistent_workers=False, prefetch_factor=4 if workers else None)


def shard_list(shard_dir: Path) -> ShardList:
    """The split's tars and counts, from its dataset.json (format version checked)."""
    meta = read_dataset_json(Path(shard_dir))
    return ShardList(tuple(str(Path(shard_dir) / s["name"]) for s in meta["shards"]),
                     tuple(int(s["samples"]) for s in meta["shards"]),
                     tuple(str(Path(shard_dir) / s["index"]) for s in meta["shards"]))
