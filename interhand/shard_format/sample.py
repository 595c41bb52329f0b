"""The sample data model: `Sample`, one annotation joined with everything its members hold, and `SampleInfo`, its
scalar fields (what the shard writer carries beside the `.ann` record)."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from interhand.shard_format.names import sample_key

__all__ = ["HAND_TYPES", "Sample", "SampleInfo"]

HAND_TYPES = ("right", "left", "interacting")


class _Keyed:
    """The names a sample's members get from its fields (both Sample and SampleInfo have them)."""

    __slots__ = ()
    dataset: str
    split: str
    annotation_id: int
    image_path: str

    @property
    def key(self) -> str:
        """The sample's key (`sample_key`)."""
        return sample_key(self.dataset, self.split, self.annotation_id)

    @property
    def image_member(self) -> str:
        """The image member's extension: `png` for a PNG source, else `jpg`."""
        return "png" if self.image_path.lower().endswith(".png") else "jpg"


@dataclass
class Sample(_Keyed):
    """One annotation joined with its image, camera, 3D joints, RootNet and MANO records.

    Arrays follow `ANN_FIELDS` for shape, frame and unit; optional joins are None when absent.
    """

    dataset: str
    split: str
    annotation_id: int
    image_id: int
    image_path: str                   # absolute path of the source image
    file_name: str                    # as in the annotation file
    width: int
    height: int
    hand_type: str
    hand_type_valid: int
    joints_img: np.ndarray
    joints_cam_mm: np.ndarray
    joints_world_mm: np.ndarray
    joint_valid: np.ndarray
    joint_valid_raw: np.ndarray
    root_joint_index: tuple[int, int]
    bbox: np.ndarray
    bbox_raw: np.ndarray
    abs_depth_gt_mm: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    campos_mm: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    camrot: np.ndarray = field(default_factory=lambda: np.eye(3, dtype=np.float32))
    capture: int = -1
    subject: int = -1
    seq_name: str = ""
    camera: str = ""
    frame_idx: int = -1
    rootnet_bbox: Optional[np.ndarray] = None
    rootnet_abs_depth_mm: Optional[np.ndarray] = None
    rootnet_root_valid: Optional[np.ndarray] = None
    mano: dict = field(default_factory=dict)  # hand -> {"pose": (48,), "shape": (10,), "trans": (3,) m}

    def info(self) -> SampleInfo:
        """Its scalar fields as plain Python values (ints, strs, a tuple of two ints)."""
        return SampleInfo(**{name: _plain(kind, getattr(self, name)) for name, kind in _INFO_TYPES.items()})


# SampleInfo's fields: Sample's scalar fields, with Sample's types, in this order.
_INFO_FIELDS = ("dataset", "split", "annotation_id", "image_id", "image_path", "file_name", "width", "height",
                "hand_type", "hand_type_valid", "capture", "subject", "seq_name", "camera", "frame_idx",
                "root_joint_index")
_INFO_TYPES = {name: typing.get_type_hints(Sample)[name] for name in _INFO_FIELDS}


def _plain(kind: object, value: object) -> object:
    """`value` as the plain Python value of type `kind` (numpy integers become ints; strs pass through)."""
    if kind is int:
        return int(value)
    if kind == tuple[int, int]:
        return tuple(int(item) for item in value)
    return value


class SampleInfo(NamedTuple("_SampleInfoFields", list(_INFO_TYPES.items())), _Keyed):
    """A Sample's scalar fields (`Sample.info()`): with its `.ann` record (the arrays), all that its members and
    manifest row hold. Build it by keyword."""

    __slots__ = ()
