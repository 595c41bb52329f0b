"""What every source reader shares: the rejection record, structural errors, and sample checks."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np

from interhand.preprocess.json_stream import JsonStream, JsonStructureError, iter_array_items
from interhand.shard_format.sample import HAND_TYPES, Sample

__all__ = ["Rejection", "image_rejection", "error_row", "data_relative", "data_relative_path", "RejectSample",
           "SourceError", "Record", "SourceReading", "ImageProblem", "finite_problem",
           "MAX_JOINT_MM", "joint_range_problem", "flags_problem", "integer", "text", "relative_file_name",
           "check_root", "load_json", "load_rootnet", "require_file"]


@dataclass(frozen=True)
class Rejection:
    """One input annotation that does not become a sample, with a reason a person understands, and where it was
    (errors.parquet's columns, SHARD_FORMAT.md §5)."""

    source_file: str
    annotation_id: int  # -1 when the annotation has no readable id
    key: str            # the sample key it would have had ('' when unknown)
    reason: str
    capture: int = -1   # InterHand2.6M's capture and camera; -1 and '' where unknown (STB, RHD, COCO, not read)
    camera: str = ""
    hand_type: str = ""  # the annotation's hand_type where it was read and is one of HAND_TYPES, else ''


def image_rejection(sample, reason: str) -> Rejection:
    """The rejection of a built sample (a Sample or its SampleInfo) whose image cannot be used."""
    return Rejection(sample.image_path, sample.annotation_id, sample.key, reason, sample.capture, sample.camera,
                     sample.hand_type)


def error_row(rejection: Rejection, stage: str) -> dict:
    """errors.parquet's row of a rejection at `stage` (`annotation` or `image`), its paths as read (`data_relative`
    makes them the published ones)."""
    return {"source_file": rejection.source_file, "annotation_id": rejection.annotation_id, "key": rejection.key,
            "capture": rejection.capture, "camera": rejection.camera, "hand_type": rejection.hand_type,
            "stage": stage, "reason": rejection.reason}


def data_relative_path(path: str, data: str) -> str:
    """`path` (as read: below `data`, the dataset folder as given) relative to `data`, as the manifest's
    `source_file`; a file outside it (an `--aid-list` elsewhere) by its name alone. Published files hold no
    path of the writer's machine or working directory (SHARD_FORMAT.md §5)."""
    relative = os.path.relpath(path, data)
    return os.path.basename(path) if relative == ".." or relative.startswith("../") else relative


def data_relative(row: dict, data: str) -> dict:
    """An error_row with its paths relative to the dataset folder `data`: `source_file`, and in `reason` every path
    that starts with the folder as given (reasons name the file they are about)."""
    prefix = os.path.normpath(data).rstrip(os.sep) + os.sep
    reason = row["reason"]
    if prefix != "." + os.sep and prefix in reason:  # the folder itself ("images/test" from "DATA/images/test")
        reason = re.sub(r"(?<![\w.~/-])" + re.escape(prefix), "", reason)
    return {**row, "source_file": data_relative_path(row["source_file"], data), "reason": reason}


Record = Union[Sample, Rejection]


class RejectSample(Exception):
    """Raised by a sample builder: this annotation becomes an errors.parquet row with this message."""


class SourceError(ValueError):
    """A structural problem (no such split, unreadable or mis-shaped file): one clear message, no traceback."""


@dataclass
class SourceReading:
    """An opened source: its input files and joint set, and a one-pass iterator of records.

    `records()` yields exactly one Sample or Rejection per input annotation, so that
    samples + rejections = input annotations ("nothing is lost silently"). `records(share)` yields
    None instead of a Sample where `share(position)` is False (see coco_stream.join_records).
    """

    files: list[Path]
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    records: Callable[..., Iterator[Optional[Record]]]
    layout: str = ""
    image_root: Optional[Path] = None  # every image must resolve inside it (symlinks followed)


@dataclass(frozen=True)
class ImageProblem:
    """Stands in the image index for an image entry that cannot be used (a duplicated id, a bad field):
    every annotation that points at it becomes an errors.parquet row with this reason."""

    reason: str


def integer(value: object, what: str, bits: int = 32) -> int:
    """`value` as an int if it is a JSON integer (a float without fraction counts) that fits the signed `bits`
    of its manifest column, else RejectSample: a fractional id must not be truncated into another sample's id,
    "334px" is not a width, and 2**31 would stop the manifest writer."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise RejectSample(f"{what} {value!r} is not an integer")
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise RejectSample(f"{what} {value} does not fit the {bits}-bit integers of its manifest column")
    return value


def text(value: object, what: str) -> str:
    """`value` if it is a string that UTF-8 can encode (JSON's \\ud800 escapes can hold lone surrogates,
    which no file system, JSON or Parquet writer takes), else RejectSample naming it."""
    if type(value) is not str:
        raise RejectSample(f"{what} {value!r} is not a string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RejectSample(f"{what} {ascii(value)} is not valid UTF-8 text") from None
    return value


def relative_file_name(value: object, what: str = "file_name") -> str:
    """A file name relative to its image folder, else RejectSample: absolute paths, `..` components and NUL
    bytes would make the writer read a file outside the dataset (the resolved path is checked at stat)."""
    if type(value) is str and value and value.isascii() and not value.startswith((".", "/")) and "/." not in value \
            and "\\" not in value and "\0" not in value:
        return value  # the common case, decided without splitting
    name = text(value, what)
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or ".." in parts or "\0" in name or os.path.isabs(name):
        raise RejectSample(f"{what} {name!r} is not a relative path inside the image folder")
    return name


def flags_problem(values: np.ndarray, what: str, joint_names: tuple[str, ...] = ()) -> str:
    """'' when every value is 0 or 1 (NaN is neither), else the reason naming the first offending entries."""
    if not (values * (values - 1)).any():  # 0 exactly for 0 and 1; NaN and inf are truthy
        return ""
    bad = (values != 0) & (values != 1)
    where = np.flatnonzero(bad)[:4]
    names = ", ".join(f"{joint_names[i] if i < len(joint_names) else i}={values[i]:g}" for i in where)
    return f"{what} must be 0 or 1: {names}"


def load_rootnet(path: Path, entry: Callable[[dict], np.ndarray]) -> dict[int, Union[np.ndarray, str]]:
    """A RootNet output file (a list of {"annot_id", "bbox", "abs_depth", ...}) → annot_id → entry(item), or the
    reason that annotation is rejected: a non-finite value, or its id listed twice (which estimate is right?)."""
    table, repeats = {}, {}
    try:
        with JsonStream(path) as stream:
            for number, item in enumerate(iter_array_items(stream)):
                try:
                    annotation_id = integer(item["annot_id"], "annot_id", 64)
                except RejectSample as error:
                    raise SourceError(f"{path}: entry {number}: {error}") from None
                values = entry(item)
                if annotation_id in table:
                    repeats[annotation_id] = repeats.get(annotation_id, 1) + 1
                table[annotation_id] = values if np.isfinite(values).all() else \
                    f"non-finite (NaN or inf) RootNet output {values.tolist()} in {path}"
    except (JsonStructureError, KeyError, TypeError, ValueError) as error:
        raise SourceError(f"{path}: unreadable RootNet output ({error})") from error
    for annotation_id, count in repeats.items():
        table[annotation_id] = f"annot_id {annotation_id} appears {count} times in {path}"
    return table


def check_root(path: Path, what: str) -> Path:
    """SourceError unless the path is UTF-8 text: every sample records paths below it (JSON, Parquet)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise SourceError(f"{what} {ascii(str(path))} is not a UTF-8 path; rename it or link it from one") from None
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        siblings = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        hint = f"; {path.parent} holds {', '.join(siblings[:12]) or 'nothing'}" if path.parent.is_dir() else \
            f"; {path.parent} does not exist"
        raise SourceError(f"{what} not found: {path}{hint}")
    return path


def load_json(path: Path) -> object:
    """json.load for the small files (camera parameters); a broken file, or a key listed twice in one object
    (json.load would keep the last silently: which calibration is right?), is a SourceError naming it."""
    def unique(pairs: list) -> dict:
        table = dict(pairs)
        if len(table) < len(pairs):
            repeated = next(key for key in table if sum(1 for name, _ in pairs if name == key) > 1)
            raise SourceError(f"{path}: the key {repeated!r} appears twice in one object")
        return table

    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle, object_pairs_hook=unique)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: unreadable JSON ({error})") from error


# The largest |coordinate| a joint may have in the world or camera frame, mm (SHARD_FORMAT.md §5): 100 m, far beyond
# any capture rig, and far below where float32 arithmetic on it (a 1e30 mm joint is finite) stops meaning anything.
MAX_JOINT_MM = 1e5


def _joint_list(names: tuple[str, ...], where: np.ndarray) -> str:
    return ", ".join(names[i] if i < len(names) else str(i) for i in np.flatnonzero(where)[:4])


def joint_range_problem(sample: Sample, joint_names: tuple[str, ...]) -> str:
    """'' when every world and camera joint coordinate is within ±MAX_JOINT_MM and every valid joint lies in front
    of the camera (depth > 0; not asked of a sample without camera joints, all zeros: COCO input without
    `joint_cam`), else what is not (for errors.parquet). For finite values (`finite_problem` checks those)."""
    for name in ("joints_world_mm", "joints_cam_mm"):
        joints = np.abs(getattr(sample, name))
        if joints.max(initial=0.0) > MAX_JOINT_MM:
            far = (joints > MAX_JOINT_MM).any(axis=1)
            return (f"{name} beyond ±{MAX_JOINT_MM:g} mm at joint(s) {_joint_list(joint_names, far)}: "
                    f"{getattr(sample, name)[np.argmax(far)].tolist()}")
    depth = sample.joints_cam_mm[:, 2]
    behind = (sample.joint_valid > 0) & (depth <= 0)
    if behind.any() and sample.joints_cam_mm.any():
        return (f"joints_cam_mm depth <= 0 (behind the camera) at valid joint(s) {_joint_list(joint_names, behind)}: "
                f"{depth[np.argmax(behind)]:g} mm")
    return ""


_CHECKED = ("joints_world_mm", "joints_cam_mm", "joints_img", "bbox_raw", "bbox", "focal", "princpt", "campos_mm",
            "camrot")


def finite_problem(sample: Sample, joint_names: tuple[str, ...]) -> str:
    """'' when every coordinate and camera parameter is finite and the joints in range (`joint_range_problem`), else
    what is not (for errors.parquet)."""
    # Fast path: a sum is finite only if every term is (NaN and inf propagate; inf - inf is NaN, quietly).
    with np.errstate(invalid="ignore"):
        total = sum(float(np.sum(getattr(sample, name), dtype=np.float64)) for name in _CHECKED)
    if math.isfinite(total) and sample.hand_type in HAND_TYPES and sample.bbox_raw[2] > 0 and sample.bbox_raw[3] > 0:
        return joint_range_problem(sample, joint_names)
    for name in ("joints_world_mm", "joints_cam_mm", "joints_img"):
        bad = ~np.isfinite(getattr(sample, name)).all(axis=1)
        if bad.any():
            joints = ", ".join(joint_names[i] for i in np.flatnonzero(bad)[:4])
            return f"non-finite {name} (NaN or inf) at joint(s) {joints}"
    for name in ("bbox_raw", "focal", "princpt", "campos_mm", "camrot"):
        if not np.isfinite(getattr(sample, name)).all():
            return f"non-finite {name} {np.asarray(getattr(sample, name)).tolist()}"
    if not np.isfinite(sample.bbox).all():
        return (f"bbox {np.asarray(sample.bbox_raw).tolist()} overflows float32 once processed "
                f"(x1.25): {np.asarray(sample.bbox).tolist()}")
    if sample.hand_type not in HAND_TYPES:
        return f"hand_type {sample.hand_type!r} is not one of {', '.join(HAND_TYPES)}"
    if sample.bbox_raw[2] <= 0 or sample.bbox_raw[3] <= 0:
        return f"bbox {np.asarray(sample.bbox_raw).tolist()} has no area"
    return joint_range_problem(sample, joint_names)
