"""The `.ann` member (SHARD_FORMAT.md §4): one fixed-size little-endian float32 record per sample, the arrays the
loaders read. `encode_ann_records` packs many samples at once; `decode_ann` / `decode_ann_records` unpack."""

from __future__ import annotations

import math

import numpy as np

from interhand.shard_format.sample import Sample
from interhand.shard_format.version import FORMAT_VERSION, check_format_version
from interhand.skeleton import HAND_TYPE_VECTORS, right_hand_joints

__all__ = ["ANN_DTYPE", "ANN_FIELDS", "ANN_LAYOUT", "ANN_FLOATS", "ANN_BYTES", "HAND_ZEROED", "encode_ann_records",
           "set_hand_presence", "check_ann", "decode_ann", "decode_ann_records"]

# The packed `.ann` record: little-endian float32, fields in this order (SHARD_FORMAT.md §4).
ANN_DTYPE = np.dtype("<f4")
ANN_FIELDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("format_version", (1,)),
    ("joints_img", (42, 3)),          # u, v original-image px; Z camera mm
    ("joints_cam_mm", (42, 3)),
    ("joints_world_mm", (42, 3)),
    ("joint_valid", (42,)),           # root-masked, as the original loader uses it
    ("joint_valid_raw", (42,)),       # as stored in the annotation file
    ("hand_type_onehot", (2,)),       # [right, left] 0/1; interacting = [1, 1] (the records' `hand_type` string)
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
    ("image_size_px", (2,)),          # width, height px (the records' `width`, `height`)
    ("campos_mm", (3,)),
    ("camrot", (3, 3)),
    ("mano_valid", (2,)),             # [right, left]
    ("mano_pose", (2, 48)),           # axis-angle, world frame, minus the mean pose (as released)
    ("mano_shape", (2, 10)),
    ("mano_trans_m", (2, 3)),
    ("hand_present", (2,)),           # [right, left] 0/1: the hand has an annotated joint (HAND_ZEROED when 0)
)
# What an absent hand (`hand_present` 0) holds as zeros instead of the source's numbers, which mean nothing there
# (SHARD_FORMAT.md §4.4): its 21 joints of these per-joint fields, and its entry of `abs_depth_gt_mm`.
HAND_ZEROED = ("joints_img", "joints_cam_mm", "joints_world_mm", "abs_depth_gt_mm")


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


def encode_ann_records(samples: list[Sample]) -> np.ndarray:
    """The `.ann` records of samples: (n, ANN_FLOATS) float32, row i sample i's (ANN_BYTES bytes as `.tobytes()`)."""
    records = np.zeros((len(samples), ANN_FLOATS), ANN_DTYPE)

    def put(name: str, values: list, offset: int = 0) -> None:
        """Field `name` (from `offset` floats in) of the samples whose value is not None; the others stay 0."""
        rows = [row for row, value in enumerate(values) if value is not None]
        if rows:
            start = _ANN_SLICES[name][0] + offset
            block = np.asarray([values[row] for row in rows], dtype=ANN_DTYPE).reshape(len(rows), -1)
            records[rows if len(rows) < len(values) else slice(None), start:start + block.shape[1]] = block

    records[:, _ANN_SLICES["format_version"][0]] = FORMAT_VERSION
    for name in ("joints_img", "joints_cam_mm", "joints_world_mm", "joint_valid", "joint_valid_raw", "hand_type_valid",
                 "root_joint_index", "bbox", "bbox_raw", "abs_depth_gt_mm", "focal", "princpt", "campos_mm", "camrot"):
        put(name, [getattr(sample, name) for sample in samples])
    put("hand_type_onehot", [HAND_TYPE_VECTORS[sample.hand_type] for sample in samples])
    put("image_size_px", [(sample.width, sample.height) for sample in samples])
    depths = [sample.rootnet_abs_depth_mm for sample in samples]
    put("rootnet_valid", [None if depth is None else 1.0 for depth in depths])
    put("rootnet_abs_depth_mm", depths)
    put("rootnet_bbox", [sample.rootnet_bbox for sample in samples])
    put("rootnet_root_valid", [sample.rootnet_root_valid for sample in samples])
    for hand_index, hand in enumerate(("right", "left")):
        params = [sample.mano.get(hand) for sample in samples]
        put("mano_valid", [None if value is None else 1.0 for value in params], hand_index)
        for name, size in (("pose", 48), ("shape", 10), ("trans", 3)):
            field_name = "mano_trans_m" if name == "trans" else f"mano_{name}"
            put(field_name, [None if value is None else value[name] for value in params], hand_index * size)
    set_hand_presence(records)
    return records


def _field(records: np.ndarray, name: str) -> np.ndarray:
    start, end = _ANN_SLICES[name]
    return records[:, start:end]


def set_hand_presence(records: np.ndarray) -> None:
    """In place, on `.ann` records (n, ANN_FLOATS): `hand_present` [right, left] = 1 where at least one of that
    hand's 21 `joint_valid_raw` flags is 1 (the release annotated the hand in this frame), else 0 and that hand's
    HAND_ZEROED values set to 0 (SHARD_FORMAT.md §4.4). Presence follows validity, not `hand_type`: an `interacting`
    sample whose one hand has no annotated joint has that hand absent. Only joints with `joint_valid_raw` 0 are
    ever zeroed, so nothing a reader uses under `joint_valid` changes. Applied to records made this way it changes
    nothing (`interhand verify` checks that)."""
    right = right_hand_joints(_field(records, "root_joint_index"))  # (n, 42): works for both joint orders
    annotated = _field(records, "joint_valid_raw") > 0
    present = np.stack([(annotated & right).any(axis=1), (annotated & ~right).any(axis=1)], axis=1)
    _field(records, "hand_present")[:] = present
    absent_joint = np.where(right, ~present[:, :1], ~present[:, 1:])  # (n, 42): the joints of an absent hand
    for name in HAND_ZEROED:
        values = _field(records, name)
        mask = ~present if name == "abs_depth_gt_mm" else np.repeat(absent_joint, values.shape[1] // 42, axis=1)
        values[mask] = 0.0


def check_ann(data: bytes, where: str = ".ann") -> None:
    """ValueError (FormatVersionError with the re-shard hint for another version's record) unless `data` is one
    `.ann` record of this format version: its size and its version field, without unpacking the fields."""
    offset = ANN_LAYOUT["format_version"][0] * ANN_DTYPE.itemsize  # the first field in every version
    readable = len(data) >= offset + ANN_DTYPE.itemsize
    version = _version(float(np.frombuffer(data, ANN_DTYPE, count=1, offset=offset)[0])) if readable else None
    if len(data) != ANN_BYTES:
        # Another version's record is another size (version 3: 2516 bytes): say so, with the re-shard hint.
        if isinstance(version, int) and 1 <= version < FORMAT_VERSION:
            check_format_version(version, where)
        raise ValueError(f"{where}: {len(data)} bytes, a format {FORMAT_VERSION} .ann record has {ANN_BYTES}")
    check_format_version(version, where)


def _version(value: float) -> int | float:
    """A record's format_version field as an int when it is one (4.5 stays 4.5, and is refused)."""
    return int(value) if math.isfinite(value) and value == int(value) else value


def decode_ann(data: bytes, where: str = ".ann") -> dict[str, np.ndarray]:
    """One `.ann` record (inverse of a row of `encode_ann_records`): field name -> float32 array of its shape."""
    check_ann(data, where)
    return {name: value[0] for name, value in decode_ann_records(np.frombuffer(data, ANN_DTYPE)[None], where).items()}


def decode_ann_records(records: np.ndarray, where: str = ".ann records") -> dict[str, np.ndarray]:
    """A batch of `.ann` records, (B, ANN_FLOATS) float32 → field name -> (B, *shape) copies (the loaders')."""
    records = np.asarray(records, dtype=ANN_DTYPE).reshape(-1, ANN_FLOATS)
    for version in np.unique(records[:, ANN_LAYOUT["format_version"][0]]):
        check_format_version(_version(float(version)), where)
    return {name: records[:, offset:offset + int(np.prod(shape))].reshape((len(records), *shape)).copy()
            for name, (offset, shape) in ANN_LAYOUT.items()}
