"""The sample's content as the `.json` member (SHARD_FORMAT.md §4.2) and the manifest's content columns (§5) both
hold it (RECORD_FIELDS), made from `.ann` records and SampleInfos; and `encode_sample` / `decode_sample`, one
sample's members at once."""

from __future__ import annotations

import functools
import json
from json.encoder import encode_basestring_ascii as _json_string  # what json.dumps writes for a str
from typing import Optional

import numpy as np

from interhand.shard_format.ann_codec import ANN_DTYPE, ANN_FLOATS, ANN_LAYOUT, decode_ann, encode_ann_records
from interhand.shard_format.json_numbers import array_texts
from interhand.shard_format.names import ANN_MEMBER, IMAGE_MEMBERS, JSON_MEMBER, KEY_PATTERN
from interhand.shard_format.sample import Sample, SampleInfo
from interhand.shard_format.version import FORMAT_VERSION, check_format_version
from interhand.skeleton import right_hand_joints

__all__ = ["IMAGE_ENCODINGS", "RECORD_FIELDS", "RECORD_FROM_ANN", "valid_joint_counts", "ann_values", "record_values",
           "encode_json_records", "encode_sample", "decode_sample"]

# The manifest's `image_encoding`: the member is the source re-encoded as baseline, or the source's own bytes.
IMAGE_ENCODINGS = ("baseline", "source")

# The sample's content, as the `.json` record (§4.2) and the manifest's content columns (§5) both hold it, in the
# manifest's column order: name, element type, shape (() for a scalar). One naming, one unit, never null: an absent
# RootNet or MANO join is zeros with its `*_valid` flag 0, an absent hand's joints zeros with `<hand>_present` 0, so
# every record has every key with one type (readers that infer a schema from the first samples, e.g. Hugging Face
# `datasets`, need that).
_F32 = "float32"
RECORD_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("dataset", "string", ()), ("subset", "string", ()), ("split", "string", ()), ("annotation_id", "int64", ()),
    ("image_id", "int64", ()), ("file_name", "string", ()), ("width", "int32", ()), ("height", "int32", ()),
    ("capture", "int32", ()), ("subject", "int32", ()), ("seq_name", "string", ()), ("camera", "string", ()),
    ("frame_idx", "int32", ()), ("hand_type", "string", ()), ("hand_type_valid", "int8", ()),
    ("right_present", "int8", ()), ("left_present", "int8", ()),
    ("num_valid_right", "int16", ()), ("num_valid_left", "int16", ()),
    ("joints_img", _F32, (42, 3)), ("joints_cam_mm", _F32, (42, 3)), ("joints_world_mm", _F32, (42, 3)),
    ("joint_valid", _F32, (42,)), ("joint_valid_raw", _F32, (42,)), ("root_joint_index", "int8", (2,)),
    ("bbox", _F32, (4,)), ("bbox_raw", _F32, (4,)), ("abs_depth_gt_mm", _F32, (2,)), ("focal", _F32, (2,)),
    ("princpt", _F32, (2,)), ("campos_mm", _F32, (3,)), ("camrot", _F32, (3, 3)),
    ("rootnet_valid", "int8", ()), ("rootnet_bbox", _F32, (4,)), ("rootnet_abs_depth_mm", _F32, (2,)),
    ("rootnet_root_valid", _F32, (2,)),
    *[(f"mano_{hand}_{part}", kind, shape) for hand in ("right", "left")
      for part, kind, shape in (("valid", "int8", ()), ("pose", _F32, (48,)), ("shape", _F32, (10,)),
                                ("trans_m", _F32, (3,)))],
)
# The fields the `.ann` record holds: name -> (`.ann` field, index into its first axis or None). The `.ann` holds the
# same float32 values the `.json` record rounds, so both the record and the manifest are made from `.ann` records.
RECORD_FROM_ANN: dict[str, tuple[str, Optional[int]]] = {
    **{name: (name, None) for name in (
        "joints_img", "joints_cam_mm", "joints_world_mm", "joint_valid", "joint_valid_raw", "root_joint_index", "bbox",
        "bbox_raw", "abs_depth_gt_mm", "focal", "princpt", "campos_mm", "camrot", "rootnet_bbox",
        "rootnet_abs_depth_mm", "rootnet_root_valid")},
    "rootnet_valid": ("rootnet_valid", 0),
    "right_present": ("hand_present", 0), "left_present": ("hand_present", 1),
    **{f"mano_{hand}_{part}": (f"mano_{source}", index) for index, hand in enumerate(("right", "left"))
       for part, source in (("valid", "valid"), ("pose", "pose"), ("shape", "shape"), ("trans_m", "trans_m"))},
}


def _record_field_span(name: str) -> tuple[int, tuple[int, ...]]:
    """(offset in float32 units, shape) of record field `name` inside a `.ann` record (RECORD_FROM_ANN)."""
    source, index = RECORD_FROM_ANN[name]
    offset, shape = ANN_LAYOUT[source]
    if index is not None:
        shape = shape[1:]
        offset += index * int(np.prod(shape, dtype=int))
    return offset, shape


def _ann_field(records: np.ndarray, name: str) -> np.ndarray:
    """Record field `name` of `.ann` records (n, ANN_FLOATS) as (n, *shape) float32 (a view)."""
    offset, shape = _record_field_span(name)
    return records[:, offset:offset + int(np.prod(shape, dtype=int))].reshape(len(records), *shape)


def valid_joint_counts(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(num_valid_right, num_valid_left) per `.ann` record: its root-masked `joint_valid` per hand."""
    valid = _ann_field(records, "joint_valid") > 0
    right = right_hand_joints(_ann_field(records, "root_joint_index"))  # IH26M: 0..20; STB/RHD: 21..41
    return (valid & right).sum(axis=1), (valid & ~right).sum(axis=1)


def ann_values(records: np.ndarray) -> dict[str, list | np.ndarray]:
    """The RECORD_FIELDS made from `.ann` records (n, ANN_FLOATS) alone (RECORD_FROM_ANN and num_valid_*): scalars as
    lists of Python ints, arrays as (n, *shape) numpy arrays of their element type."""
    records = np.asarray(records, ANN_DTYPE).reshape(-1, ANN_FLOATS)
    right, left = valid_joint_counts(records)
    values: dict[str, list | np.ndarray] = {"num_valid_right": right.tolist(), "num_valid_left": left.tolist()}
    for name, kind, shape in RECORD_FIELDS:
        if name in RECORD_FROM_ANN:
            array = _ann_field(records, name).astype(kind)
            values[name] = array if shape else array.tolist()
    return values


def record_values(records: np.ndarray, infos: list[SampleInfo], subset: str) -> dict[str, list | np.ndarray]:
    """Every RECORD_FIELDS field of n samples from their `.ann` records (n, ANN_FLOATS), SampleInfos and annotation
    subset, as ann_values gives them: what both the `.json` records and the manifest rows hold."""
    values = ann_values(records)
    values["subset"] = [subset] * len(infos)
    for name, _, _ in RECORD_FIELDS:
        if name not in values:
            values[name] = [getattr(info, name) for info in infos]
    return values


# The record's float32 arrays, whose JSON texts json_numbers.array_texts writes: name -> (`.ann` field, index).
_JSON_ARRAYS = {name: RECORD_FROM_ANN[name] for name, kind, shape in RECORD_FIELDS if kind == _F32}


@functools.cache
def _json_array_columns() -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """The `.ann` columns of the _JSON_ARRAYS arrays one after another, and their shapes."""
    spans = [_record_field_span(name) for name in _JSON_ARRAYS]
    columns = np.concatenate([np.arange(offset, offset + int(np.prod(shape, dtype=int))) for offset, shape in spans])
    return columns, tuple(shape for _, shape in spans)


def encode_json_records(records: np.ndarray, infos: list[SampleInfo], subset: str) -> list[bytes]:
    """The `.json` members of several samples from their `.ann` records (n, ANN_FLOATS) and SampleInfos:
    json.dumps({"format_version", "key", *RECORD_FIELDS}, sort_keys=True, separators=(",", ":")), written out
    column by column (numbers rounded to 1e-4 as json_numbers.array_texts writes them)."""
    for info in infos:
        if "." in info.key:
            raise ValueError(f"sample key {info.key!r} contains a dot")
    values = record_values(records, infos, subset)
    columns, shapes = _json_array_columns()
    numbers = array_texts(np.asarray(records, ANN_DTYPE).reshape(len(infos), ANN_FLOATS)[:, columns], shapes)
    float_names = list(_JSON_ARRAYS)
    texts: dict[str, list[str]] = {"format_version": [str(FORMAT_VERSION)] * len(infos),
                                   "key": [_json_string(info.key) for info in infos]}
    for name, kind, shape in RECORD_FIELDS:
        if kind == _F32:
            column = float_names.index(name)
            texts[name] = [row[column] for row in numbers]
        elif kind == "string":
            texts[name] = [_json_string(value) for value in values[name]]
        elif shape:
            texts[name] = [json.dumps(value, separators=(",", ":")) for value in values[name].tolist()]
        else:
            texts[name] = [str(int(value)) for value in values[name]]
    heads = {name: f"{_json_string(name)}:" for name in texts}
    order = sorted(texts)
    return [("{" + ",".join(heads[name] + texts[name][row] for name in order) + "}").encode("ascii")
            for row in range(len(infos))]


def encode_sample(sample: Sample, image_bytes: bytes, subset: str = "all") -> dict[str, bytes]:
    """Members of one sample of annotation subset `subset`: extension -> bytes. The image bytes pass through."""
    records = encode_ann_records([sample])
    (text,) = encode_json_records(records, [sample.info()], subset)
    return {sample.image_member: image_bytes, JSON_MEMBER: text, ANN_MEMBER: records[0].tobytes()}


def decode_sample(members: dict[str, bytes], where: str = "sample") -> dict:
    """Inverse of `encode_sample`: {"image": bytes, "image_member": ext, "json": dict, "ann": {field: array}}."""
    missing = [name for name in (JSON_MEMBER, ANN_MEMBER) if name not in members]
    images = [name for name in IMAGE_MEMBERS if name in members]
    if missing or len(images) != 1:
        raise ValueError(f"{where}: members {sorted(members)}; expected json, ann and one of {IMAGE_MEMBERS}")
    record = json.loads(members[JSON_MEMBER].decode("utf-8"))
    check_format_version(record.get("format_version"), f"{where}.json")
    if not KEY_PATTERN.match(record.get("key", "")):
        raise ValueError(f"{where}.json: key {record.get('key')!r} does not follow the key scheme")
    return {"image": members[images[0]], "image_member": images[0], "json": record,
            "ann": decode_ann(members[ANN_MEMBER], f"{where}.ann")}
