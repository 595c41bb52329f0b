"""Write one shard: a webdataset tar (as *.tar.tmp, renamed when complete), its DALI index, and its
manifest/errors fragments. Fixed mtime, owner and member order make reruns byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from interhand.manifests.schema import identity_row, manifest_table
from interhand.manifests.write import write_errors, write_manifest
from interhand.shard_format import ANN_MEMBER, Sample, encode_sample

__all__ = ["ShardJob", "ShardResult", "TarWriter", "ustar_header", "check_image", "write_shard", "dali_index_text",
           "shard_is_done", "file_sha256"]

# Fixed header fields: the same input gives the same bytes, which is what makes resume checkable.
_MTIME = 0
_MODE = 0o444
_RECORD_SIZE = tarfile.RECORDSIZE


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to write one shard (picklable)."""

    index: int
    name: str                         # e.g. train-000003.tar
    out_dir: str
    work_dir: str
    spill_path: str
    records: tuple                    # ((offset, length), ...) of pickled Samples in the spill file, in order
    plan_hash: str
    subset: str
    full_decode: bool


@dataclass(frozen=True)
class ShardResult:
    index: int
    name: str
    samples: int
    errors: int
    bytes: int
    sha256: str
    resumed: bool


class TarWriter:
    """A minimal ustar writer that knows each member's data offset (for the manifest and DALI index)."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self.offset = 0
        self.sha256 = hashlib.sha256()

    def _write(self, data: bytes) -> None:
        self._handle.write(data)
        self.sha256.update(data)
        self.offset += len(data)

    def add(self, name: str, data: bytes) -> int:
        """Append one regular file; returns the offset of its data."""
        self._write(ustar_header(name, len(data)))
        data_offset = self.offset
        self._write(data)
        padding = -len(data) % tarfile.BLOCKSIZE
        if padding:
            self._write(b"\0" * padding)
        return data_offset

    def close(self) -> None:
        self._write(b"\0" * (2 * tarfile.BLOCKSIZE))
        padding = -self.offset % _RECORD_SIZE
        if padding:
            self._write(b"\0" * padding)


def ustar_header(name: str, size: int) -> bytes:
    """The 512-byte ustar header tarfile would write for a regular file with our fixed fields (mtime 0,
    uid/gid 0, mode 0444, no owner names); built directly because tarfile.TarInfo.tobuf is slow."""
    encoded = name.encode("utf-8")
    if len(encoded) > 100:
        raise ValueError(f"member name {name!r} is longer than the 100 bytes of a ustar header")
    header = bytearray(_HEADER_TEMPLATE)
    header[0:len(encoded)] = encoded
    header[124:136] = b"%011o\0" % size
    checksum = sum(header)  # the checksum field holds 8 spaces while summing
    header[148:155] = b"%06o\0" % checksum
    return bytes(header)


def _header_template() -> bytes:
    header = bytearray(tarfile.BLOCKSIZE)
    header[100:108] = b"%07o\0" % _MODE
    header[108:116] = header[116:124] = b"0000000\0"  # uid, gid
    header[136:148] = b"%011o\0" % _MTIME
    header[148:156] = b" " * 8
    header[156:157] = tarfile.REGTYPE
    header[257:265] = tarfile.POSIX_MAGIC
    return bytes(header)


_HEADER_TEMPLATE = _header_template()
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); they carry the image size.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment, without decoding; None if not found."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            position += 2
            continue
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return None


def _image_size(data: bytes, member: str) -> tuple[int, int] | None:
    if member == "jpg":
        return _jpeg_size(data)
    return struct.unpack(">II", data[16:24]) if data[12:16] == b"IHDR" else None


def check_image(data: bytes, sample: Sample, full_decode: bool) -> str:
    """'' if the bytes are a complete image of the annotated size, else the reason (for errors.parquet)."""
    if not data:
        return f"empty image file {sample.image_path}"
    if sample.image_member == "jpg":
        if not data.startswith(b"\xff\xd8"):
            return f"not a JPEG (no start-of-image marker): {sample.image_path}"
        if not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            return f"truncated JPEG (no end-of-image marker): {sample.image_path}"
    elif not data.startswith(b"\x89PNG\r\n\x1a\n") or b"IEND" not in data[-12:]:
        return f"truncated or invalid PNG: {sample.image_path}"
    size = _image_size(data, sample.image_member)
    if size is None:
        return f"undecodable image (no size in its header): {sample.image_path}"
    if size != (sample.width, sample.height):
        return (f"image is {size[0]}x{size[1]} px but the annotation says {sample.width}x{sample.height}: "
                f"{sample.image_path}")
    if full_decode:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except (OSError, SyntaxError, ValueError) as error:
            return f"undecodable image ({error}): {sample.image_path}"
    return ""


def dali_index_text(entries: list[tuple[str, list[tuple[str, int, int]]]]) -> str:
    """The `wds2idx` v1.2 index: a header line, then per sample `ext offset size name` per member."""
    lines = [f"v1.2 {len(entries)}"]
    for key, members in entries:
        lines.append(" ".join(f"{ext} {offset} {size} {key}.{ext}" for ext, offset, size in members))
    return "\n".join(lines) + "\n"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _done_path(job: ShardJob) -> Path:
    return Path(job.work_dir) / "shards" / f"{job.name}.done.json"


def shard_is_done(job: ShardJob) -> dict | None:
    """The finished-shard record if this shard was completed by an identical plan and its bytes verify."""
    done, tar_path = _done_path(job), Path(job.out_dir) / job.name
    if not done.is_file() or not tar_path.is_file():
        return None
    record = json.loads(done.read_text())
    if record.get("plan_hash") != job.plan_hash or file_sha256(tar_path) != record.get("sha256"):
        return None
    return record


def _write_members(writer: TarWriter, sample: Sample, members: dict[str, bytes], location: dict) -> list:
    index_members = []
    for ext in sorted(members):
        data = members[ext]
        offset = writer.add(f"{sample.key}.{ext}", data)
        column = "image" if ext == sample.image_member else ext
        location.update({f"{column}_offset": offset, f"{column}_size": len(data),
                         f"{column}_crc32": zlib.crc32(data)})
        index_members.append((ext, offset, len(data)))
    return index_members


def _load(spill, offset: int, length: int, full_decode: bool) -> tuple[Sample, bytes, str]:
    """One spilled Sample, its image bytes, and '' or the reason the image is rejected."""
    spill.seek(offset)
    sample: Sample = pickle.loads(spill.read(length))
    try:
        with open(sample.image_path, "rb") as image_file:
            image_bytes = image_file.read()
    except OSError as error:
        return sample, b"", f"image unreadable ({error.strerror}): {sample.image_path}"
    return sample, image_bytes, check_image(image_bytes, sample, full_decode)


def write_shard(job: ShardJob) -> ShardResult:
    """Write (or keep, if already done and verified) one shard and its fragments."""
    record = shard_is_done(job)
    if record is not None:
        return ShardResult(job.index, job.name, record["samples"], record["errors"], record["bytes"],
                           record["sha256"], resumed=True)
    out_dir, fragments = Path(job.out_dir), Path(job.work_dir) / "shards"
    fragments.mkdir(parents=True, exist_ok=True)
    tar_path, tmp_path = out_dir / job.name, out_dir / (job.name + ".tmp")
    rows, ann_records, errors, index_entries = [], [], [], []
    with open(job.spill_path, "rb") as spill, open(tmp_path, "wb") as handle:
        writer = TarWriter(handle)
        for offset, length in job.records:
            sample, image_bytes, problem = _load(spill, offset, length, job.full_decode)
            if problem:
                errors.append({"source_file": sample.image_path, "annotation_id": sample.annotation_id,
                               "key": sample.key, "stage": "image", "reason": problem})
                continue
            location = {"key": sample.key, "shard": job.name, "shard_index": job.index, "position": len(rows),
                        "image_member": sample.image_member}
            members = encode_sample(sample, image_bytes)
            index_entries.append((sample.key, _write_members(writer, sample, members, location)))
            rows.append(identity_row(sample, job.subset, location))
            ann_records.append(members[ANN_MEMBER])
        writer.close()
    sha256, size = writer.sha256.hexdigest(), writer.offset
    index_path = out_dir / job.name.replace(".tar", ".idx")
    index_tmp = index_path.with_name(index_path.name + ".tmp")
    index_tmp.write_text(dali_index_text(index_entries))
    write_manifest(manifest_table(rows, ann_records), fragments / f"{job.name}.manifest.parquet")
    write_errors(errors, fragments / f"{job.name}.errors.parquet")
    os.replace(index_tmp, index_path)
    os.replace(tmp_path, tar_path)
    done = {"plan_hash": job.plan_hash, "sha256": sha256, "bytes": size, "samples": len(rows), "errors": len(errors)}
    done_tmp = _done_path(job).with_suffix(".tmp")
    done_tmp.write_text(json.dumps(done, indent=1))
    os.replace(done_tmp, _done_path(job))
    return ShardResult(job.index, job.name, len(rows), len(errors), size, sha256, resumed=False)
