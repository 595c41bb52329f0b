"""Generic COCO-keypoints hand datasets: the path for users converting their own data (SHARD_FORMAT.md §8).

Minimal schema of `<root>/annotations/<split>.json` (images under `<root>/images/<file_name>`):
- images: `id`, `file_name`, `width`, `height`; optional `cam_param` {`focal` [fx, fy], `princpt` [cx, cy]}.
- annotations: `id`, `image_id`, `bbox` [x, y, w, h] px, `keypoints` flat [x, y, v] × 42 in the
  InterHand2.6M order (right 0..20, left 21..41; v > 0 = valid), or × 21 with `hand_type` right/left;
  optional `hand_type` (default: from which hand has valid joints), optional `joint_cam` (42 or 21 × 3, mm).
Without `joint_cam` the camera coordinates and depths are 0 and `focal`/`princpt` may be 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from interhand.geometry.bbox import process_bbox_float32
from interhand.preprocess.sources.coco_stream import join_records
from interhand.preprocess.sources.common import (
    Record,
    RejectSample,
    SourceError,
    SourceReading,
    check_root,
    finite_problem,
    integer,
    relative_file_name,
    require_file,
)
from interhand.shard_format.sample import Sample
from interhand.skeleton import IH26M_JOINT_NAMES, IH26M_PARENTS, IH26M_ROOT, LEFT, RIGHT

__all__ = ["open_coco"]


def _compact_image(image: dict) -> dict:
    return {"file_name": relative_file_name(image["file_name"]), "width": integer(image["width"], "width"),
            "height": integer(image["height"], "height"), "cam_param": image.get("cam_param") or {}}


def _hand_type(annotation: dict, valid: np.ndarray) -> str:
    if "hand_type" in annotation:
        return str(annotation["hand_type"])
    right, left = valid[RIGHT].any(), valid[LEFT].any()
    return "interacting" if right and left else ("left" if left else "right")


def _place(values: np.ndarray, width: int, annotation: dict) -> np.ndarray:
    """21- or 42-joint array → 42 joints in the IH26M order."""
    if values.shape[0] == 42:
        return values
    if values.shape[0] != 21 or annotation.get("hand_type") not in ("right", "left"):
        raise RejectSample(f"{values.shape[0]} keypoints; expected 42, or 21 with hand_type right/left")
    placed = np.zeros((42, width), np.float32)
    placed[RIGHT if annotation["hand_type"] == "right" else LEFT] = values
    return placed


def _build(split: str, image_folder: Path):
    def build(annotation_id: int, image: dict, annotation: dict) -> Record:
        keypoints = _place(np.asarray(annotation["keypoints"], np.float32).reshape(-1, 3), 3, annotation)
        if not np.isfinite(keypoints[:, 2]).all():
            raise RejectSample("non-finite (NaN or inf) keypoint visibility")
        valid = (keypoints[:, 2] > 0).astype(np.float32)
        joints_cam = np.zeros((42, 3), np.float32)
        if annotation.get("joint_cam") is not None:
            joints_cam = _place(np.asarray(annotation["joint_cam"], np.float32).reshape(-1, 3), 3, annotation)
        joints_img = np.concatenate([keypoints[:, :2], joints_cam[:, 2:3]], axis=1)
        bbox_raw = np.asarray(annotation["bbox"], np.float32).reshape(4)
        camera = image["cam_param"]
        roots = [IH26M_ROOT["right"], IH26M_ROOT["left"]]
        sample = Sample(
            dataset="coco", split=split, annotation_id=annotation_id, image_id=int(annotation["image_id"]),
            image_path=str(image_folder / image["file_name"]), file_name=image["file_name"], width=image["width"],
            height=image["height"], hand_type=_hand_type(annotation, valid),
            hand_type_valid=integer(annotation.get("hand_type_valid", 1), "hand_type_valid"), joints_img=joints_img,
            joints_cam_mm=joints_cam, joints_world_mm=joints_cam.copy(), joint_valid=valid,
            joint_valid_raw=valid.copy(), root_joint_index=tuple(roots), bbox=process_bbox_float32(bbox_raw),
            bbox_raw=bbox_raw, abs_depth_gt_mm=joints_cam[roots, 2].copy(),
            focal=np.asarray(camera.get("focal", [0, 0]), np.float32).reshape(2),
            princpt=np.asarray(camera.get("princpt", [0, 0]), np.float32).reshape(2))
        problem = finite_problem(sample, IH26M_JOINT_NAMES)
        if problem:
            raise RejectSample(problem)
        return sample

    return build


def open_coco(config) -> SourceReading:
    root = check_root(Path(config.data), "root")
    data_path = root / "annotations" / f"{config.split}.json"
    if not data_path.is_file() and (root / "annotations").is_dir():
        present = sorted(p.stem for p in (root / "annotations").glob("*.json"))
        raise SourceError(f"no {config.split} split: {data_path} not found; splits present: "
                          f"{', '.join(present) or 'none'}")
    require_file(data_path, "COCO annotation file")

    def records(share=None) -> Iterator[Record]:
        yield from join_records(data_path, _compact_image, _build(config.split, root / "images"), "coco",
                                config.split, share=share)

    return SourceReading(files=[data_path], joint_names=IH26M_JOINT_NAMES, parents=IH26M_PARENTS, records=records,
                         layout="coco-keypoints", image_root=root / "images")
