"""Shared reader of the parsed single-hand COCO releases (STB, RHD; the original's `data/STB/dataset.py`,
`data/RHD/dataset.py`).

Each annotation is one hand (21 joints) placed into the 42-joint two-hand structure in the STB/RHD order
(left 0..20, right 21..41, wrist first). There is no world frame: world = camera coordinates
(camrot = I, campos = 0). `joints_img` takes u, v from the annotation's `joint_img`, Z from `joint_cam`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from interhand.geometry.bbox import process_bbox_float32
from interhand.preprocess.sources.coco_stream import join_records
from interhand.preprocess.sources.common import (
    Record,
    RejectSample,
    SourceReading,
    finite_problem,
    integer,
    load_rootnet,
    relative_file_name,
)
from interhand.shard_format.sample import Sample
from interhand.skeleton import STB_RHD_JOINT_NAMES, STB_RHD_PARENTS, STB_RHD_ROOT

__all__ = ["open_single_hand"]

_HAND_BLOCK = {"left": slice(0, 21), "right": slice(21, 42)}


def _rootnet_entry(item: dict) -> np.ndarray:
    """(5,) float32 [bbox 4, abs_depth]."""
    return np.array([*np.ravel(item["bbox"]), float(np.ravel(item["abs_depth"])[0])], np.float32)


def _compact_image(image: dict) -> dict:
    seq_name = str(image.get("seq_name", ""))
    if seq_name:
        relative_file_name(seq_name, "seq_name")  # STB's image folder
    return {"file_name": relative_file_name(image["file_name"]), "width": integer(image["width"], "width"),
            "height": integer(image["height"], "height"), "seq_name": seq_name, "cam_param": image["cam_param"]}


def _builder(dataset: str, split: str, image_path: Callable[[dict], Path], rootnet: dict) -> Callable:
    def build(annotation_id: int, image: dict, annotation: dict) -> Record:
        hand_type = str(annotation["hand_type"])
        if hand_type not in _HAND_BLOCK:
            raise RejectSample(f"hand_type {hand_type!r} is not right or left")
        block = _HAND_BLOCK[hand_type]
        joints_img = np.zeros((42, 3), np.float32)
        joints_cam = np.zeros((42, 3), np.float32)
        valid = np.zeros(42, np.float32)
        joints_cam[block] = np.asarray(annotation["joint_cam"], np.float32).reshape(21, 3)
        joints_img[block, :2] = np.asarray(annotation["joint_img"], np.float32).reshape(21, 2)
        joints_img[block, 2] = joints_cam[block, 2]
        valid[block] = np.asarray(annotation["joint_valid"], np.float32).reshape(21)
        root = STB_RHD_ROOT[hand_type]
        abs_depth = np.zeros(2, np.float32)
        abs_depth[0 if hand_type == "right" else 1] = joints_cam[root, 2]
        bbox_raw = np.asarray(annotation["bbox"], np.float32).reshape(4)
        sample = Sample(
            dataset=dataset, split=split, annotation_id=annotation_id, image_id=int(annotation["image_id"]),
            image_path=str(image_path(image)), file_name=image["file_name"], width=image["width"],
            height=image["height"], hand_type=hand_type, hand_type_valid=1, joints_img=joints_img,
            joints_cam_mm=joints_cam, joints_world_mm=joints_cam.copy(), joint_valid=valid,
            joint_valid_raw=valid.copy(), root_joint_index=(STB_RHD_ROOT["right"], STB_RHD_ROOT["left"]),
            bbox=process_bbox_float32(bbox_raw), bbox_raw=bbox_raw, abs_depth_gt_mm=abs_depth,
            focal=np.asarray(image["cam_param"]["focal"], np.float32).reshape(2),
            princpt=np.asarray(image["cam_param"]["princpt"], np.float32).reshape(2),
            seq_name=image["seq_name"])
        found = rootnet.get(annotation_id)
        if isinstance(found, str):
            raise RejectSample(found)
        if found is not None:
            # One absolute depth for the single hand (the original applies it to all 42 joints).
            sample.rootnet_bbox, sample.rootnet_abs_depth_mm = found[:4], np.repeat(found[4], 2)
            sample.rootnet_root_valid = np.ones(2, np.float32)
        problem = finite_problem(sample, STB_RHD_JOINT_NAMES)
        if problem:
            raise RejectSample(problem)
        return sample

    return build


def open_single_hand(dataset: str, split: str, data_path: Path, image_path: Callable[[dict], Path],
                     rootnet_path: Optional[Path], image_root: Path) -> SourceReading:
    files = [data_path] + ([rootnet_path] if rootnet_path is not None and rootnet_path.is_file() else [])

    def records(share=None) -> Iterator[Record]:
        rootnet = load_rootnet(rootnet_path, _rootnet_entry) if rootnet_path is not None and rootnet_path.is_file() \
            else {}
        build = _builder(dataset, split, image_path, rootnet)
        yield from join_records(data_path, _compact_image, build, dataset, split, share=share)

    return SourceReading(files=files, joint_names=STB_RHD_JOINT_NAMES, parents=STB_RHD_PARENTS, records=records,
                         layout="parsed-coco", image_root=image_root)
