"""InterHand2.6M reader: v1.0 (annotations/<split>/) and v0.0 (annotations/<subset>/) → Sample records.

Geometry as the original loader (`data/InterHand2.6M/dataset.py`): X_cam = R·(X_world − campos), pixels
u = X/(Z+1e-8)·fx + cx, joint_valid masked by each hand's root flag, GT bbox through process_bbox,
GT abs depth = camera Z of the wrists. RootNet (val/test) and MANO NeuralAnnot (v1.0) joined when present.
Everything is streamed: cameras are small; joints, MANO and RootNet are kept as compact float32 arrays.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from interhand.geometry.bbox import process_bbox_float32
from interhand.geometry.camera import camera_to_pixel, world_to_camera
from interhand.manifests.aid_list import parse_aid_list
from interhand.preprocess.json_stream import JsonStream, JsonStructureError
from interhand.preprocess.sources.coco_stream import join_records
from interhand.preprocess.sources.common import (
    Record,
    Rejection,
    SourceError,
    SourceReading,
    check_root,
    finite_problem,
    integer,
    joint_range_problem,
    load_json,
    load_rootnet,
    relative_file_name,
    require_file,
    text,
)
from interhand.shard_format.names import sample_key
from interhand.shard_format.sample import HAND_TYPES as _HAND_TYPES
from interhand.shard_format.sample import Sample
from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_PARENTS, IH26M_ROOT, LEFT, RIGHT

__all__ = ["open_interhand26m", "resolve_layout", "read_aid_list"]

_DATASET = "interhand26m"
_RIGHT_ROOT, _LEFT_ROOT = IH26M_ROOT["right"], IH26M_ROOT["left"]


def resolve_layout(root: Path, split: str, subset: str, layout: str) -> tuple[str, Path]:
    """('v1.0' | 'v0.0', folder holding InterHand2.6M_<split>_*.json); SourceError listing what exists."""
    candidates = {"v1.0": root / "annotations" / split, "v0.0": root / "annotations" / subset}
    order = ["v1.0", "v0.0"] if layout == "auto" else [layout]
    for name in order:
        if (candidates[name] / f"InterHand2.6M_{split}_data.json").is_file():
            return name, candidates[name]
    annotations = root / "annotations"
    present = sorted(p.name for p in annotations.iterdir() if p.is_dir()) if annotations.is_dir() else []
    looked = " and ".join(str(candidates[name] / f"InterHand2.6M_{split}_data.json") for name in order)
    raise SourceError(f"no InterHand2.6M {split} split (layout {layout}): looked for {looked}; "
                      f"{annotations} has folders: {', '.join(present) or 'none'}")


def read_aid_list(path: Path) -> set[int]:
    """Annotation ids, one per line (the H-subset lists `aid_human_annot_<split>.txt`)."""
    require_file(path, "annotation id list")
    try:
        return parse_aid_list(path)
    except ValueError as error:
        raise SourceError(str(error)) from None


def _stream_frames(path: Path, decode) -> dict[tuple[str, str], object]:
    """{capture: {frame: entry}} files → {(capture, frame): decode(entry)}, one entry in memory at a time.

    A frame listed twice maps to a str, the reason its annotations are rejected (which entry is right?)."""
    table, repeats = {}, {}
    try:
        with JsonStream(path) as stream:
            for capture in stream.object():
                for frame in stream.object():
                    entry = stream.value()
                    key = (sys.intern(capture), frame)
                    if key in table:
                        repeats[key] = repeats.get(key, 1) + 1
                    try:
                        table[key] = decode(entry)
                    except (KeyError, TypeError, ValueError) as error:
                        raise SourceError(f"{path}: capture {capture} frame {frame}: malformed entry "
                                          f"({type(error).__name__}: {error})") from None
    except JsonStructureError as error:
        raise SourceError(str(error)) from error
    for (capture, frame), count in repeats.items():
        table[(capture, frame)] = f"capture {capture} frame {frame} appears {count} times in {path}"
    return table


def _decode_joints(entry) -> np.ndarray:
    world = entry["world_coord"] if isinstance(entry, dict) else entry  # v0.0 stores the bare 42×3 list
    return np.asarray(world, dtype=np.float32).reshape(42, 3)


def _decode_mano(entry) -> Optional[np.ndarray]:
    """(2, 62) float32: per hand [valid, pose 48, shape 10, trans 3]; None when neither hand is fitted."""
    packed = np.zeros((2, 62), np.float32)
    for index, hand in enumerate(("right", "left")):
        params = (entry or {}).get(hand)
        if params:
            packed[index, 0] = 1
            packed[index, 1:] = np.concatenate([np.ravel(params["pose"]), np.ravel(params["shape"]),
                                                np.ravel(params["trans"])])
    if not np.isfinite(packed).all():
        return "non-finite (NaN or inf) MANO parameters"
    return packed if packed[:, 0].any() else None


def _rootnet_entry(item: dict) -> np.ndarray:
    """(8,) float32 [bbox 4, abs_depth right, left, root_valid right, left]."""
    depth = np.ravel(item["abs_depth"]).astype(np.float32)
    valid = np.ravel(item.get("root_valid", [1, 1])).astype(np.float32)
    return np.concatenate([np.ravel(item["bbox"]), np.resize(depth, 2), np.resize(valid, 2)]).astype(np.float32)


def _rootnet_path(root: Path, split: str, subset: str, layout: str) -> Optional[Path]:
    if split == "train":
        return None
    folder = root / "rootnet_output"
    names = [f"rootnet_interhand2.6m_output_{split}.json"]
    if layout == "v0.0":
        names = [f"rootnet_interhand2.6m_output_{subset}_{split}.json",
                 *[f"rootnet_interhand2.6m_output_{other}_{split}.json" for other in
                   ("all", "machine_annot", "human_annot")], *names]
    return next((folder / name for name in names if (folder / name).is_file()), None)


_NUMBER_FIELDS = ("width", "height", "capture", "subject", "frame_idx")


def _compact_image(image: dict) -> tuple:
    numbers = (image["width"], image["height"], image["capture"], image.get("subject", -1), image["frame_idx"])
    if {type(number) for number in numbers} != {int} or not -(1 << 31) <= min(numbers) <= max(numbers) < 1 << 31:
        numbers = tuple(integer(number, field) for number, field in zip(numbers, _NUMBER_FIELDS))
    width, height, capture, subject, frame_idx = numbers
    return (relative_file_name(image["file_name"]), width, height, capture, subject,
            sys.intern(text(str(image["seq_name"]), "seq_name")), sys.intern(text(str(image["camera"]), "camera")),
            frame_idx)


def _image_place(image: tuple) -> tuple[int, str]:
    """(capture, camera) of a `_compact_image` record."""
    return image[3], image[6]


class _Joiner:
    """Joins one annotation with its image, camera, joints, RootNet and MANO records."""

    def __init__(self, root: Path, split: str, data_path: Path, cameras: dict, joints: dict, rootnet: dict,
                 mano: dict) -> None:
        self.image_prefix = f"{root / 'images' / split}{os.sep}"  # str concat: pathlib costs ~8 µs per sample
        self.split, self.data_path = split, data_path
        self.cameras, self.joints, self.rootnet, self.mano = cameras, joints, rootnet, mano
        self._camera_cache: dict[tuple[int, str], tuple] = {}

    def reject(self, annotation_id: int, reason: str) -> Rejection:
        key = sample_key(_DATASET, self.split, annotation_id)
        return Rejection(str(self.data_path), annotation_id, key, reason)

    def camera(self, capture: int, camera: str) -> tuple:
        """(campos, camrot, focal, princpt) float32, converted once per (capture, camera)."""
        cached = self._camera_cache.get((capture, camera))
        if cached is not None:
            return cached
        calibration = self.cameras.get(str(capture))
        if calibration is None:
            raise LookupError(f"capture {capture} has no calibration in the camera file")
        try:
            cached = tuple(np.asarray(calibration[name][str(camera)], dtype=np.float32)
                           for name in ("campos", "camrot", "focal", "princpt"))
        except KeyError:
            raise LookupError(f"camera {camera} of capture {capture} is missing from the camera file") from None
        if not all(np.isfinite(values).all() for values in cached):
            raise LookupError(f"camera {camera} of capture {capture} has non-finite parameters in the camera file")
        self._camera_cache[(capture, camera)] = cached
        return cached

    def join_optional(self, sample: Sample) -> str:
        """RootNet (by annotation id; an id missing from the file leaves the fields None) and MANO; returns ''
        or the reason the sample is rejected."""
        rootnet = self.rootnet.get(sample.annotation_id)
        if isinstance(rootnet, str):
            return rootnet
        if rootnet is not None:
            sample.rootnet_bbox, sample.rootnet_abs_depth_mm, sample.rootnet_root_valid = \
                rootnet[:4], rootnet[4:6], rootnet[6:8]
        mano = self.mano.get((str(sample.capture), str(sample.frame_idx)))
        if isinstance(mano, str):
            return f"{mano} for capture {sample.capture} frame {sample.frame_idx} in the MANO file"
        if mano is not None:
            sample.mano = {hand: {"pose": mano[i, 1:49], "shape": mano[i, 49:59], "trans": mano[i, 59:62]}
                           for i, hand in enumerate(("right", "left")) if mano[i, 0]}
        return ""

    def sample(self, annotation_id: int, image: tuple, annotation: dict) -> Record:
        file_name, width, height, capture, subject, seq_name, camera, frame_idx = image
        try:
            campos, camrot, focal, princpt = self.camera(capture, camera)
        except LookupError as error:
            return self.reject(annotation_id, str(error))
        world = self.joints.get((str(capture), str(frame_idx)))
        if world is None:
            return self.reject(annotation_id, f"no 3D joints for capture {capture} frame {frame_idx} "
                                              f"in the joint_3d file")
        if isinstance(world, str):
            return self.reject(annotation_id, world)
        cam = world_to_camera(world, camrot, campos).astype(np.float32)
        img_uv = camera_to_pixel(cam, focal, princpt).astype(np.float32)
        valid_raw = np.asarray(annotation["joint_valid"], dtype=np.float32).reshape(42)
        valid = valid_raw.copy()
        # No valid root → the root-relative pose of that hand is meaningless (the original does the same).
        valid[RIGHT] *= valid[_RIGHT_ROOT]
        valid[LEFT] *= valid[_LEFT_ROOT]
        bbox_raw = np.asarray(annotation["bbox"], dtype=np.float32).reshape(4)
        sample = Sample(
            dataset=_DATASET, split=self.split, annotation_id=annotation_id, image_id=int(annotation["image_id"]),
            image_path=self.image_prefix + file_name, file_name=file_name, width=width, height=height,
            hand_type=str(annotation["hand_type"]),
            hand_type_valid=integer(annotation["hand_type_valid"], "hand_type_valid"),
            joints_img=np.concatenate([img_uv, cam[:, 2:3]], axis=1), joints_cam_mm=cam, joints_world_mm=world,
            joint_valid=valid, joint_valid_raw=valid_raw, root_joint_index=(_RIGHT_ROOT, _LEFT_ROOT),
            bbox=process_bbox_float32(bbox_raw), bbox_raw=bbox_raw,
            abs_depth_gt_mm=cam[[_RIGHT_ROOT, _LEFT_ROOT], 2].copy(), focal=focal, princpt=princpt,
            campos_mm=campos, camrot=camrot.reshape(3, 3), capture=capture, subject=subject, seq_name=seq_name,
            camera=camera, frame_idx=frame_idx)
        problem = self.join_optional(sample)
        if problem:
            return self.reject(annotation_id, problem)
        # Camera parameters were checked once per camera; one sum covers the rest (NaN and inf propagate) but the
        # processed bbox, inf where a raw box near 3.4e38 overflows float32 once enlarged.
        if math.isfinite(float(world.sum()) + float(img_uv.sum()) + float(bbox_raw.sum())) and \
                np.isfinite(sample.bbox).all() and sample.hand_type in _HAND_TYPES and \
                bbox_raw[2] > 0 and bbox_raw[3] > 0:
            problem = joint_range_problem(sample, IH26M_JOINT_NAMES)  # finite is not enough: 1e30 mm is finite
            return self.reject(annotation_id, problem) if problem else sample
        return self.reject(annotation_id, finite_problem(sample, IH26M_JOINT_NAMES))


def open_interhand26m(config) -> SourceReading:
    """Open the split named by `config` (a PreprocessConfig); raises SourceError for structural problems."""
    root = check_root(Path(config.data), "root")
    layout, folder = resolve_layout(root, config.split, config.annot_subset, config.layout)
    prefix = folder / f"InterHand2.6M_{config.split}"
    data_path = require_file(Path(f"{prefix}_data.json"), "data file")
    camera_path = require_file(Path(f"{prefix}_camera.json"), "camera file")
    joint_path = require_file(Path(f"{prefix}_joint_3d.json"), "joint_3d file")
    files = [data_path, camera_path, joint_path]
    aid_filter = None
    if layout == "v1.0" and config.annot_subset != "all":
        aid_path = Path(config.aid_list) if config.aid_list else root / f"aid_human_annot_{config.split}.txt"
        files.append(aid_path)
        aid_filter = (read_aid_list(aid_path), config.annot_subset == "human_annot")
    mano_path = Path(f"{prefix}_MANO_NeuralAnnot.json")
    rootnet_path = _rootnet_path(root, config.split, config.annot_subset, layout)
    files += [path for path in (mano_path, rootnet_path) if path is not None and path.is_file()]

    def records(share=None) -> Iterator[Record]:
        cameras = load_json(camera_path)
        joints = _stream_frames(joint_path, _decode_joints)
        mano = _stream_frames(mano_path, _decode_mano) if mano_path.is_file() else {}
        rootnet = load_rootnet(rootnet_path, _rootnet_entry) if rootnet_path is not None else {}
        joiner = _Joiner(root, config.split, data_path, cameras, joints, rootnet, mano)
        keep_id = None if aid_filter is None else (lambda aid: (aid in aid_filter[0]) == aid_filter[1])
        yield from join_records(data_path, _compact_image, joiner.sample, _DATASET, config.split, keep_id, share,
                                place=_image_place)

    return SourceReading(files=files, joint_names=IH26M_JOINT_NAMES, parents=IH26M_PARENTS, records=records,
                         layout=layout, image_root=root / "images" / config.split)
