"""The only pyarrow schemas of the project: manifest.parquet and errors.parquet (SHARD_FORMAT.md §5).

One manifest row per sample: where its members are (shard, byte offsets, sizes, CRC-32) and every field of
the sample as a typed column, so samples can be selected with pyarrow or duckdb without opening a tar.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from interhand.shard_format import ANN_DTYPE, ANN_FLOATS, ANN_LAYOUT, FORMAT_VERSION, SampleInfo

__all__ = ["MANIFEST_SCHEMA", "ERRORS_SCHEMA", "MEMBER_COLUMNS", "ARRAY_COLUMNS", "manifest_table", "manifest_arrays",
           "schema_metadata"]


def _array(*shape: int) -> pa.DataType:
    """Nested fixed-size float32 list, e.g. _array(42, 3) for (42, 3)."""
    element = pa.float32()
    for size in reversed(shape):
        element = pa.list_(element, size)
    return element


# (prefix) -> the image, json and ann members each get <prefix>_offset/_size/_crc32 columns.
MEMBER_COLUMNS = ("image", "json", "ann")

_LOCATION = [
    ("key", pa.string()), ("shard", pa.string()), ("shard_index", pa.int32()), ("position", pa.int32()),
    ("image_member", pa.string()),
    *[(f"{member}_{what}", kind) for member in MEMBER_COLUMNS
      for what, kind in (("offset", pa.int64()), ("size", pa.int64()), ("crc32", pa.uint32()))],
    # What the image member holds (SHARD_FORMAT.md §4): `baseline` (the source re-encoded losslessly, same
    # pixels) or `source` (its bytes), why the source was kept, and the provenance of both files.
    ("image_encoding", pa.string()), ("image_encoding_reason", pa.string()), ("image_sha256", pa.string()),
    ("source_file", pa.string()), ("source_size", pa.int64()), ("source_sha256", pa.string()),
]
_IDENTITY = [
    ("dataset", pa.string()), ("subset", pa.string()), ("split", pa.string()),
    ("annotation_id", pa.int64()), ("image_id", pa.int64()), ("file_name", pa.string()),
    ("width", pa.int32()), ("height", pa.int32()), ("capture", pa.int32()), ("subject", pa.int32()),
    ("seq_name", pa.string()), ("camera", pa.string()), ("frame_idx", pa.int32()),
    ("hand_type", pa.string()), ("hand_type_valid", pa.int8()),
    ("num_valid_right", pa.int16()), ("num_valid_left", pa.int16()),
]
_ARRAYS = [
    ("joints_img", _array(42, 3)), ("joints_cam_mm", _array(42, 3)), ("joints_world_mm", _array(42, 3)),
    ("joint_valid", _array(42)), ("joint_valid_raw", _array(42)), ("root_joint_index", pa.list_(pa.int8(), 2)),
    ("bbox", _array(4)), ("bbox_raw", _array(4)), ("abs_depth_gt_mm", _array(2)),
    ("focal", _array(2)), ("princpt", _array(2)), ("campos_mm", _array(3)), ("camrot", _array(3, 3)),
    ("rootnet_bbox", _array(4)), ("rootnet_abs_depth_mm", _array(2)), ("rootnet_root_valid", _array(2)),
    ("mano_right_pose", _array(48)), ("mano_right_shape", _array(10)), ("mano_right_trans_m", _array(3)),
    ("mano_left_pose", _array(48)), ("mano_left_shape", _array(10)), ("mano_left_trans_m", _array(3)),
]

ARRAY_COLUMNS = tuple(name for name, _ in _ARRAYS)


def schema_metadata() -> dict[bytes, bytes]:
    return {b"format_version": str(FORMAT_VERSION).encode()}


MANIFEST_SCHEMA = pa.schema(_LOCATION + _IDENTITY + _ARRAYS, metadata=schema_metadata())

ERRORS_SCHEMA = pa.schema([
    ("source_file", pa.string()), ("annotation_id", pa.int64()), ("key", pa.string()), ("stage", pa.string()),
    ("reason", pa.string()),
], metadata=schema_metadata())


# Identity columns copied from SampleInfo fields of the same name.
_INFO_COLUMNS = ("dataset", "split", "annotation_id", "image_id", "file_name", "width", "height", "capture", "subject",
                 "seq_name", "camera", "frame_idx", "hand_type", "hand_type_valid")


def _valid_joint_counts(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(num_valid_right, num_valid_left) per record, from its root-masked joint_valid."""
    valid_offset = ANN_LAYOUT["joint_valid"][0]
    valid = records[:, valid_offset:valid_offset + 42] > 0
    first, second = valid[:, :21].sum(axis=1), valid[:, 21:].sum(axis=1)
    right_second = records[:, ANN_LAYOUT["root_joint_index"][0]] == 21  # STB/RHD: right is 21..41
    return np.where(right_second, second, first), np.where(right_second, first, second)


# Array column -> (.ann field, index into its first axis or None, .ann flag that makes it non-null or None).
_ARRAY_SOURCES = {
    **{name: (name, None, None) for name in (
        "joints_img", "joints_cam_mm", "joints_world_mm", "joint_valid", "joint_valid_raw", "bbox", "bbox_raw",
        "abs_depth_gt_mm", "focal", "princpt", "campos_mm", "camrot")},
    **{name: (name, None, ("rootnet_valid", 0)) for name in (
        "rootnet_bbox", "rootnet_abs_depth_mm", "rootnet_root_valid")},
    **{f"mano_{hand}_{part}": (f"mano_{field}", index, ("mano_valid", index))
       for index, hand in enumerate(("right", "left"))
       for part, field in (("pose", "pose"), ("shape", "shape"), ("trans_m", "trans_m"))},
}


def _array_column(records: np.ndarray, column: str) -> pa.Array:
    field, index, flag = _ARRAY_SOURCES[column]
    offset, shape = ANN_LAYOUT[field]
    if index is not None:
        shape = shape[1:]
        offset += index * int(np.prod(shape))
    values = records[:, offset:offset + int(np.prod(shape))]
    mask = None
    if flag is not None:
        flag_offset = ANN_LAYOUT[flag[0]][0] + flag[1]
        mask = pa.array(records[:, flag_offset] == 0)
    array = pa.array(np.ascontiguousarray(values, dtype=np.float32).ravel())
    for size in reversed(shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return pa.FixedSizeListArray.from_arrays(array, shape[0], mask=mask)


def manifest_table(locations: dict[str, list], infos: list[SampleInfo], subset: str, records: np.ndarray) -> pa.Table:
    """Manifest rows, built column by column: `locations` holds the location columns (key, shard, member
    offsets, ...), `infos` and `subset` the identity columns, and the samples' `.ann` records, (n, ANN_FLOATS)
    float32, the counts and the arrays (so the manifest and the shards cannot disagree)."""
    records = np.asarray(records, ANN_DTYPE).reshape(len(infos), ANN_FLOATS)
    values = dict(locations) if infos else {name: [] for name, _ in _LOCATION}
    values.update({name: [getattr(info, name) for info in infos] for name in _INFO_COLUMNS})
    values["subset"] = [subset] * len(infos)
    values["num_valid_right"], values["num_valid_left"] = _valid_joint_counts(records)
    columns = [pa.array(values[name], type=kind) for name, kind in _LOCATION + _IDENTITY]
    columns += list(manifest_arrays(records).values())
    return pa.Table.from_arrays(columns, schema=MANIFEST_SCHEMA)


def manifest_arrays(records: np.ndarray) -> dict[str, pa.Array]:
    """The manifest's array columns (_ARRAYS, in order) of `.ann` records (n, ANN_FLOATS): what manifest_table
    writes, and what `interhand verify` recomputes from the shards to check the manifest against them."""
    root_offset = ANN_LAYOUT["root_joint_index"][0]
    root_index = pa.array(records[:, root_offset:root_offset + 2].astype(np.int8).ravel())
    return {name: pa.FixedSizeListArray.from_arrays(root_index, 2) if name == "root_joint_index"
            else _array_column(records, name) for name, _ in _ARRAYS}
