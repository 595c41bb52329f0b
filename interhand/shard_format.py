"""The one module behind SHARD_FORMAT.md: version, key scheme, members, dtypes, encode/decode.

Every byte layout of a shard sample lives here; the shard writer, the verifier, the loaders and the
tests call `encode_sample` / `decode_sample` and never pack or unpack bytes themselves.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from interhand.skeleton import HAND_TYPE_VECTORS

__all__ = [
    "FORMAT_VERSION",
    "KEY_PREFIX",
    "IMAGE_MEMBERS",
    "JSON_MEMBER",
    "ANN_MEMBER",
    "ANN_DTYPE",
    "ANN_FIELDS",
    "ANN_LAYOUT",
    "ANN_FLOATS",
    "ANN_BYTES",
    "HAND_TYPES",
    "FormatVersionError",
    "Sample",
    "sample_key",
    "shard_name",
    "check_format_version",
    "encode_sample",
    "decode_sample",
    "encode_ann",
    "decode_ann",
    "decode_ann_records",
]

# Bump on any change of key scheme, member set, `.ann` layout or manifest schema (SHARD_FORMAT.md §6).
FORMAT_VERSION = 1

# Key prefix per source; a key is `<prefix>-<split>-<annotation id, 9 digits>` (SHARD_FORMAT.md §3).
KEY_PREFIX = {"interhand26m": "ih26m", "stb": "stb", "rhd": "rhd", "coco": "coco"}
IMAGE_MEMBERS = ("jpg", "png")  # the source file's bytes, untouched; PNG sources stay PNG
JSON_MEMBER = "json"
ANN_MEMBER = "ann"
HAND_TYPES = ("right", "left", "interacting")

# The packed `.ann` record: little-endian float32, fields in this order (SHARD_FORMAT.md §4).
ANN_DTYPE = np.dtype("<f4")
ANN_FIELDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("format_version", (1,)),
    ("joints_img", (42, 3)),          # u, v original-image px; Z camera mm
    ("joints_cam_mm", (42, 3)),
    ("joints_world_mm", (42, 3)),
    ("joint_valid", (42,)),           # root-masked, as the original loader uses it
    ("joint_valid_raw", (42,)),       # as stored in the annotation file
    ("hand_type", (2,)),              # [right, left] 0/1; interacting = [1, 1]
    ("hand_type_valid", (1,)),
    ("root_joint_index", (2,)),       # [right wrist, left wrist] index in the 42-joint order
    ("bbox", (4,)),                   # processed GT box x, y, w, h px (process_bbox)
    ("bbox_raw", (4,)),               # the annotation's bbox
    ("abs_depth_gt_mm", (2,)),        # camera Z of [right, left] wrist
    ("rootnet_valid", (1,)),          # 1 when a RootNet record was joined
    ("rootnet_bbox", (4,)),
    ("rootnet_abs_depth_mm", (2,)),   # [right, left]; STB/RHD's scalar repeated
    ("rootnet_root_valid", (2,)),
    ("focal", (2,)),
    ("princpt", (2,)),
    ("image_size", (2,)),             # width, height px
    ("campos_mm", (3,)),
    ("camrot", (3, 3)),
    ("mano_valid", (2,)),             # [right, left]
    ("mano_pose", (2, 48)),           # axis-angle, world frame, minus the mean pose (as released)
    ("mano_shape", (2, 10)),
    ("mano_trans_m", (2, 3)),
)


def _layout() -> dict[str, tuple[int, tuple[int, ...]]]:
    offsets, position = {}, 0
    for name, shape in ANN_FIELDS:
        offsets[name] = (position, shape)
        position += int(np.prod(shape))
    return offsets


ANN_LAYOUT = _layout()  # name -> (offset in float32 units, shape)
_ANN_SLICES = {name: (offset, offset + int(np.prod(shape))) for name, (offset, shape) in ANN_LAYOUT.items()}
ANN_FLOATS = sum(int(np.prod(shape)) for _, shape in ANN_FIELDS)
ANN_BYTES = ANN_FLOATS * ANN_DTYPE.itemsize

_KEY_PATTERN = re.compile(r"^[a-z0-9]+-[a-z]+-[0-9]{9,}$")


class FormatVersionError(ValueError):
    """A shard, manifest or dataset.json written in a format version this code does not read."""


@dataclass
class Sample:
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

    @property
    def key(self) -> str:
        return sample_key(self.dataset, self.split, self.annotation_id)

    @property
    def image_member(self) -> str:
        return "png" if self.image_path.lower().endswith(".png") else "jpg"


def sample_key(dataset: str, split: str, annotation_id: int) -> str:
    """`ih26m-train-000123456`: stable, sortable, and free of dots (webdataset and DALI split at them)."""
    if dataset not in KEY_PREFIX:
        raise ValueError(f"dataset={dataset!r} is not one of {', '.join(KEY_PREFIX)}")
    if not split.isalpha() or not split.islower():
        raise ValueError(f"split={split!r} must be lowercase letters only")
    if int(annotation_id) < 0:
        raise ValueError(f"annotation id {annotation_id} is negative; keys need ids >= 0")
    return f"{KEY_PREFIX[dataset]}-{split}-{int(annotation_id):09d}"


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def check_format_version(found: object, where: str) -> None:
    """Raise FormatVersionError naming the found and expected version unless they match."""
    if found != FORMAT_VERSION:
        raise FormatVersionError(f"{where}: format_version {found!r} found, this code reads {FORMAT_VERSION}")


def _ann_values(sample: Sample) -> dict[str, object]:
    mano_valid, pose, shape, trans = np.zeros(2), np.zeros((2, 48)), np.zeros((2, 10)), np.zeros((2, 3))
    for hand_index, hand in enumerate(("right", "left")):
        params = sample.mano.get(hand)
        if params is not None:
            mano_valid[hand_index] = 1
            pose[hand_index], shape[hand_index], trans[hand_index] = params["pose"], params["shape"], params["trans"]
    has_rootnet = sample.rootnet_abs_depth_mm is not None
    return {
        "format_version": FORMAT_VERSION, "joints_img": sample.joints_img, "joints_cam_mm": sample.joints_cam_mm,
        "joints_world_mm": sample.joints_world_mm, "joint_valid": sample.joint_valid,
        "joint_valid_raw": sample.joint_valid_raw, "hand_type": HAND_TYPE_VECTORS[sample.hand_type],
        "hand_type_valid": sample.hand_type_valid, "root_joint_index": sample.root_joint_index,
        "bbox": sample.bbox, "bbox_raw": sample.bbox_raw, "abs_depth_gt_mm": sample.abs_depth_gt_mm,
        "rootnet_valid": float(has_rootnet),
        "rootnet_bbox": sample.rootnet_bbox if sample.rootnet_bbox is not None else np.zeros(4),
        "rootnet_abs_depth_mm": sample.rootnet_abs_depth_mm if has_rootnet else np.zeros(2),
        "rootnet_root_valid": sample.rootnet_root_valid if sample.rootnet_root_valid is not None else np.zeros(2),
        "focal": sample.focal, "princpt": sample.princpt, "image_size": (sample.width, sample.height),
        "campos_mm": sample.campos_mm, "camrot": sample.camrot, "mano_valid": mano_valid, "mano_pose": pose,
        "mano_shape": shape, "mano_trans_m": trans,
    }


def encode_ann(sample: Sample) -> bytes:
    """The fixed-size `.ann` record (ANN_BYTES bytes)."""
    record = np.zeros(ANN_FLOATS, ANN_DTYPE)
    for name, value in _ann_values(sample).items():
        start, stop = _ANN_SLICES[name]
        record[start:stop] = np.ravel(value)
    return record.tobytes()


def decode_ann(data: bytes, where: str = ".ann") -> dict[str, np.ndarray]:
    """Inverse of `encode_ann`: field name -> float32 array of its ANN_FIELDS shape."""
    if len(data) != ANN_BYTES:
        raise ValueError(f"{where}: {len(data)} bytes, a format {FORMAT_VERSION} .ann record has {ANN_BYTES}")
    return {name: value[0] for name, value in decode_ann_records(np.frombuffer(data, ANN_DTYPE)[None], where).items()}


def decode_ann_records(records: np.ndarray, where: str = ".ann records") -> dict[str, np.ndarray]:
    """A batch of `.ann` records, (B, ANN_FLOATS) float32 → field name -> (B, *shape) copies (the loaders')."""
    records = np.asarray(records, dtype=ANN_DTYPE).reshape(-1, ANN_FLOATS)
    for version in np.unique(records[:, ANN_LAYOUT["format_version"][0]]):
        check_format_version(int(version) if math.isfinite(version) else version, where)
    return {name: records[:, offset:offset + int(np.prod(shape))].reshape((len(records), *shape)).copy()
            for name, (offset, shape) in ANN_LAYOUT.items()}


def _rounded(array: Optional[np.ndarray]) -> Optional[list]:
    if array is None:
        return None
    return np.asarray(array, dtype=np.float32).astype(np.float64).round(4).tolist()


def _json_record(sample: Sample) -> dict:
    return {
        "format_version": FORMAT_VERSION, "key": sample.key, "dataset": sample.dataset, "split": sample.split,
        "annotation_id": int(sample.annotation_id), "image_id": int(sample.image_id),
        "file_name": sample.file_name, "width": int(sample.width), "height": int(sample.height),
        "capture": int(sample.capture), "subject": int(sample.subject), "seq_name": sample.seq_name,
        "camera": sample.camera, "frame_idx": int(sample.frame_idx),
        "hand_type": sample.hand_type, "hand_type_valid": int(sample.hand_type_valid),
        "root_joint_index": [int(i) for i in sample.root_joint_index],
        "joints_world_mm": _rounded(sample.joints_world_mm), "joints_cam_mm": _rounded(sample.joints_cam_mm),
        "joints_img": _rounded(sample.joints_img), "joint_valid": _rounded(sample.joint_valid),
        "joint_valid_raw": _rounded(sample.joint_valid_raw), "bbox": _rounded(sample.bbox),
        "bbox_raw": _rounded(sample.bbox_raw), "focal": _rounded(sample.focal), "princpt": _rounded(sample.princpt),
        "campos_mm": _rounded(sample.campos_mm), "camrot": _rounded(sample.camrot),
        "abs_depth_gt_mm": _rounded(sample.abs_depth_gt_mm),
        "rootnet": None if sample.rootnet_abs_depth_mm is None else {
            "bbox": _rounded(sample.rootnet_bbox), "abs_depth_mm": _rounded(sample.rootnet_abs_depth_mm),
            "root_valid": _rounded(sample.rootnet_root_valid)},
        "mano": {hand: None if sample.mano.get(hand) is None else {
            name: _rounded(sample.mano[hand][name]) for name in ("pose", "shape", "trans")}
            for hand in ("right", "left")},
    }


def encode_sample(sample: Sample, image_bytes: bytes) -> dict[str, bytes]:
    """Members of one sample: extension -> bytes. The image bytes pass through untouched."""
    key = sample.key
    if "." in key:
        raise ValueError(f"sample key {key!r} contains a dot")
    text = json.dumps(_json_record(sample), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return {sample.image_member: image_bytes, JSON_MEMBER: text.encode("utf-8"), ANN_MEMBER: encode_ann(sample)}


def decode_sample(members: dict[str, bytes], where: str = "sample") -> dict:
    """Inverse of `encode_sample`: {"image": bytes, "image_member": ext, "json": dict, "ann": {field: array}}."""
    missing = [name for name in (JSON_MEMBER, ANN_MEMBER) if name not in members]
    images = [name for name in IMAGE_MEMBERS if name in members]
    if missing or len(images) != 1:
        raise ValueError(f"{where}: members {sorted(members)}; expected json, ann and one of {IMAGE_MEMBERS}")
    record = json.loads(members[JSON_MEMBER].decode("utf-8"))
    check_format_version(record.get("format_version"), f"{where}.json")
    if not _KEY_PATTERN.match(record.get("key", "")):
        raise ValueError(f"{where}.json: key {record.get('key')!r} does not follow the key scheme")
    return {"image": members[images[0]], "image_member": images[0], "json": record,
            "ann": decode_ann(members[ANN_MEMBER], f"{where}.ann")}
