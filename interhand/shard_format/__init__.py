"""The one package behind SHARD_FORMAT.md; here: version, key scheme, members, dtypes, encode/decode.

Every byte layout of a shard sample lives here; the shard writer, the verifier, the loaders and the
tests call `encode_sample` / `decode_sample` and never pack or unpack bytes themselves. The writer encodes
many samples at once (`encode_ann_records`, `encode_json_records`); `encode_sample` is the same code for one.
The other on-disk files have a module each: `dali_index` (the index beside each tar, re-exported here),
`dataset_json` (a split folder's record and the check every reader opens a folder with); `json_numbers` prints
the `.json` record's numbers.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_string  # what json.dumps writes for a str
from typing import NamedTuple, Optional

import numpy as np

from interhand.shard_format.dali_index import dali_index_text, read_dali_index
from interhand.shard_format.json_numbers import array_texts
from interhand.skeleton import HAND_TYPE_VECTORS

__all__ = [
    "FORMAT_VERSION",
    "IMAGE_ENCODINGS",
    "KEY_PREFIX",
    "MAX_ANNOTATION_ID",
    "IMAGE_MEMBERS",
    "JSON_MEMBER",
    "ANN_MEMBER",
    "ANN_DTYPE",
    "ANN_FIELDS",
    "ANN_LAYOUT",
    "ANN_FLOATS",
    "ANN_BYTES",
    "HAND_TYPES",
    "RECORD_FIELDS",
    "RECORD_FROM_ANN",
    "record_values",
    "ann_values",
    "FormatVersionError",
    "Sample",
    "SampleInfo",
    "sample_key",
    "shard_name",
    "check_format_version",
    "encode_sample",
    "decode_sample",
    "encode_ann_records",
    "encode_json_records",
    "decode_ann",
    "decode_ann_records",
    "index_name",
    "dali_index_text",
    "read_dali_index",
    "DATASET_FILE",
    "MANIFEST_FILE",
    "ERRORS_FILE",
    "RECORDED_FILES",
    "CARD_FILE",
    "CROISSANT_FILE",
    "WIDS_INDEX_FILE",
    "PUBLISHED_FILES",
    "CHECKSUMS_FILE",
    "check_plain_file_name",
]

# Bump on any change of key scheme, member set, `.ann` layout, manifest schema or dataset.json keys (SHARD_FORMAT.md §6).
# 2: the image member may be the source JPEG re-encoded losslessly as baseline, with the manifest's image columns
# (image_encoding, image_sha256, source_*); dataset.json records `complete`, `error_fraction`, `max_errors` and
# `files` (the folder-integrity section below).
# 3: the `.json` record holds exactly the manifest's content columns (RECORD_FIELDS: same names, types, units, never
# null; absent RootNet/MANO joins are zeros with their `*_valid` flag 0), and the `.ann` pair `hand_type` is
# `hand_type_onehot`, `image_size` is `image_size_px` (the manifest's `image_size` is the image member's bytes);
# a finished folder also holds the published files and SHA256SUMS (PUBLISHED_FILES, CHECKSUMS_FILE).
FORMAT_VERSION = 3
# Older versions differ by the stored image (1: always the source bytes), the manifest's columns, dataset.json's
# integrity keys (1), the `.json` record's layout (1, 2) and the published files (1, 2): readers refuse them and
# say how to rewrite them.
_REWRITE_HINT = {version: "; re-run `interhand shards` with the same options into a new --shards folder to rewrite it"
                 for version in (1, 2)}

# Key prefix per source; a key is `<prefix>-<split>-<annotation id, 9 digits>` (SHARD_FORMAT.md §3).
KEY_PREFIX = {"interhand26m": "ih26m", "stb": "stb", "rhd": "rhd", "coco": "coco"}
IMAGE_MEMBERS = ("jpg", "png")  # PNG sources stay PNG; JPEGs are stored as `interhand shards --jpeg` says
# The manifest's `image_encoding`: the member is the source re-encoded as baseline, or the source's own bytes.
IMAGE_ENCODINGS = ("baseline", "source")
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


_KEY_DOC = "The sample's key (`sample_key`)."
_IMAGE_MEMBER_DOC = "The image member's extension: `png` for a PNG source, else `jpg`."


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

    key = property(lambda self: sample_key(self.dataset, self.split, self.annotation_id), doc=_KEY_DOC)
    image_member = property(lambda self: _image_member(self.image_path), doc=_IMAGE_MEMBER_DOC)

    def info(self) -> SampleInfo:
        return SampleInfo(
            self.dataset, self.split, int(self.annotation_id), int(self.image_id), self.image_path, self.file_name,
            int(self.width), int(self.height), self.hand_type, int(self.hand_type_valid), int(self.capture),
            int(self.subject), self.seq_name, self.camera, int(self.frame_idx),
            (int(self.root_joint_index[0]), int(self.root_joint_index[1])))


class SampleInfo(NamedTuple):
    """A Sample's scalar fields: with its `.ann` record (the arrays), all that its members and manifest row hold."""

    dataset: str
    split: str
    annotation_id: int
    image_id: int
    image_path: str
    file_name: str
    width: int
    height: int
    hand_type: str
    hand_type_valid: int
    capture: int
    subject: int
    seq_name: str
    camera: str
    frame_idx: int
    root_joint_index: tuple[int, int]

    key = property(lambda self: sample_key(self.dataset, self.split, self.annotation_id), doc=_KEY_DOC)
    image_member = property(lambda self: _image_member(self.image_path), doc=_IMAGE_MEMBER_DOC)


def _image_member(image_path: str) -> str:
    return "png" if image_path.lower().endswith(".png") else "jpg"


MAX_ANNOTATION_ID = 10 ** 9 - 1  # the key's 9 digits


def sample_key(dataset: str, split: str, annotation_id: int) -> str:
    """`ih26m-train-000123456`: stable, sortable, and free of dots (webdataset and DALI split at them)."""
    if dataset not in KEY_PREFIX:
        raise ValueError(f"dataset={dataset!r} is not one of {', '.join(KEY_PREFIX)}")
    if not split.isalpha() or not split.islower():
        raise ValueError(f"split={split!r} must be lowercase letters only")
    if int(annotation_id) < 0:
        raise ValueError(f"annotation id {annotation_id} is negative; keys need ids >= 0")
    if int(annotation_id) > MAX_ANNOTATION_ID:
        raise ValueError(f"annotation id {annotation_id} has more digits than the key's 9")
    return f"{KEY_PREFIX[dataset]}-{split}-{int(annotation_id):09d}"


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def index_name(shard: str) -> str:
    """The DALI index beside a shard: `val-000000.tar` → `val-000000.idx`."""
    return shard.removesuffix(".tar") + ".idx"


def check_format_version(found: object, where: str) -> None:
    """Raise FormatVersionError naming the found and expected version unless they match."""
    if found != FORMAT_VERSION:
        hint = _REWRITE_HINT.get(found, "") if isinstance(found, int) else ""
        raise FormatVersionError(f"{where}: format_version {found!r} found, this code reads {FORMAT_VERSION}{hint}")


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
    return records


def decode_ann(data: bytes, where: str = ".ann") -> dict[str, np.ndarray]:
    """One `.ann` record (inverse of a row of `encode_ann_records`): field name -> float32 array of its shape."""
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


# The sample's content, as the `.json` record (§4.2) and the manifest's content columns (§5) both hold it, in the
# manifest's column order: name, element type, shape (() for a scalar). One naming, one unit, never null: an absent
# RootNet or MANO join is zeros with its `*_valid` flag 0, so every record has every key with one type (readers that
# infer a schema from the first samples, e.g. Hugging Face `datasets`, need that).
_F32 = "float32"
RECORD_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("dataset", "string", ()), ("subset", "string", ()), ("split", "string", ()), ("annotation_id", "int64", ()),
    ("image_id", "int64", ()), ("file_name", "string", ()), ("width", "int32", ()), ("height", "int32", ()),
    ("capture", "int32", ()), ("subject", "int32", ()), ("seq_name", "string", ()), ("camera", "string", ()),
    ("frame_idx", "int32", ()), ("hand_type", "string", ()), ("hand_type_valid", "int8", ()),
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
    first, second = valid[:, :21].sum(axis=1), valid[:, 21:].sum(axis=1)
    right_second = _ann_field(records, "root_joint_index")[:, 0] == 21  # STB/RHD: right is 21..41
    return np.where(right_second, second, first), np.where(right_second, first, second)


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
    if not _KEY_PATTERN.match(record.get("key", "")):
        raise ValueError(f"{where}.json: key {record.get('key')!r} does not follow the key scheme")
    return {"image": members[images[0]], "image_member": images[0], "json": record,
            "ann": decode_ann(members[ANN_MEMBER], f"{where}.ann")}


# --- Format version 2: folder integrity (SHARD_FORMAT.md §1.1) ---------------------------------------------------
# dataset.json keys added in version 2: `complete` (false when the run failed --max-errors; readers refuse such a
# folder unless told to accept it), `error_fraction` (errors / input annotations), `max_errors` (the run's limit),
# and `files`: for each of RECORDED_FILES, {"bytes", "sha256"}, so that `interhand verify` catches an edit of them.
DATASET_FILE = "dataset.json"  # the split folder's record (dataset_json.py)
MANIFEST_FILE = "manifest.parquet"
ERRORS_FILE = "errors.parquet"
RECORDED_FILES = (MANIFEST_FILE, ERRORS_FILE)
# Format version 3 (SHARD_FORMAT.md §1.2): after dataset.json, a finished folder gets the files other tools read
# (interhand/preprocess/publish.py), then CHECKSUMS_FILE, last, over every other file: a folder is finished when
# dataset.json and CHECKSUMS_FILE are both there.
CARD_FILE, CROISSANT_FILE, WIDS_INDEX_FILE = "README.md", "croissant.json", "shardindex.json"
PUBLISHED_FILES = (CARD_FILE, CROISSANT_FILE, WIDS_INDEX_FILE)
CHECKSUMS_FILE = "SHA256SUMS"


def check_plain_file_name(name: object, where: str) -> str:
    """`name` if it is a plain file name inside its folder: a non-empty string without a path separator or NUL,
    not `.` or `..` (so never absolute). dataset.json's shard and index names and the manifest's `shard` column
    must be; else ValueError naming `where`."""
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{where}: {name!r} is not a plain file name inside the shard folder (refused)")
    return name
