"""Write one shard: a webdataset tar (as *.tar.tmp, renamed when complete), its DALI index, and its
manifest/errors fragments. Fixed mtime, owner and member order make reruns byte-identical.

Per batch of samples: the images are read with the next ones announced to the kernel (shuffled order
means random reads; a cold disk serves several at once), the `.json` members are encoded together from
the spilled `.ann` records, and each sample's three members go to the tar in one write.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
import zlib
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import numpy as np
from PIL import Image

from interhand.manifests.schema import manifest_table
from interhand.manifests.write import FRAGMENT_SUFFIX, write_errors, write_manifest
from interhand.preprocess.spill import read_spilled
from interhand.shard_format import (
    ANN_DTYPE,
    ANN_FLOATS,
    ANN_MEMBER,
    JSON_MEMBER,
    Sample,
    SampleInfo,
    dali_index_text,
    encode_json_records,
    index_name,
)

try:
    from interhand.preprocess._jpeg_baseline import to_baseline
except ImportError:  # no compiler or libjpeg headers at install time: only --jpeg source
    to_baseline = None

__all__ = ["REENCODING", "ShardJob", "ShardResult", "TarWriter", "ustar_header", "check_image", "partial_paths", "write_shard",
           "shard_is_done", "file_sha256", "StoredImage", "store_image"]

REENCODING = to_baseline is not None  # --jpeg baseline is possible (the C extension is built)
# Fixed header fields: the same input gives the same bytes, which is what makes resume checkable.
_MTIME = 0
_MODE = 0o444
_RECORD_SIZE = tarfile.RECORDSIZE
_BATCH = 64       # samples read, checked and encoded together
_READ_AHEAD = 64  # image files announced to the kernel ahead of the one being read


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to write one shard (picklable)."""

    index: int
    name: str                         # e.g. train-000003.tar
    out_dir: str
    work_dir: str
    spill_paths: tuple                # (path, ...) of the spill files
    records: tuple                    # ((spill file index, offset, length), ...) of the samples, in order
    plan_hash: str
    subset: str
    full_decode: bool
    jpeg: str = "baseline"            # --jpeg: baseline (re-encode progressive JPEGs) or source
    root: str = ""                    # dataset root; the manifest's source_file is relative to it


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
        return self.add_files([(name, data)])[0]

    def add_files(self, files: list[tuple[str, bytes]]) -> list[int]:
        """Append regular files (name, data) in one write; returns the offsets of their data."""
        parts, offsets, offset = [], [], self.offset
        for name, data in files:
            padding = -len(data) % tarfile.BLOCKSIZE
            parts += (ustar_header(name, len(data)), data, _PADDING[:padding])
            offsets.append(offset + tarfile.BLOCKSIZE)
            offset += tarfile.BLOCKSIZE + len(data) + padding
        self._write(b"".join(parts))
        return offsets

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
    size_field = b"%011o\0" % size
    checksum = _TEMPLATE_SUM + sum(encoded) + sum(size_field)  # the checksum field holds 8 spaces while summing
    header = bytearray(_HEADER_TEMPLATE)
    header[0:len(encoded)] = encoded
    header[124:136] = size_field
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
_TEMPLATE_SUM = sum(_HEADER_TEMPLATE)
_PADDING = bytes(tarfile.BLOCKSIZE)
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


def check_image(data: bytes, sample: Union[Sample, SampleInfo], full_decode: bool) -> str:
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


@dataclass(frozen=True)
class StoredImage:
    """The image member of one sample and where it came from (the manifest's image columns)."""

    data: bytes
    encoding: str        # baseline: the source re-encoded losslessly; source: the source's bytes
    reason: str          # why the source bytes were kept ('' when re-encoded)
    source_size: int
    source_sha256: str


def store_image(source: bytes, member: str, jpeg: str) -> StoredImage:
    """What the shard stores for an image file under `--jpeg` (baseline or source). A progressive JPEG is
    re-encoded as baseline (same DCT coefficients, optimized Huffman tables: identical decoded pixels); PNGs,
    sequential JPEGs and what the re-encoder refuses (arithmetic coding, CMYK, corrupt data) are kept."""
    source_sha256 = hashlib.sha256(source).hexdigest()
    if member != "jpg" or jpeg == "source":
        return StoredImage(source, "source", "--jpeg source" if member == "jpg" else member, len(source), source_sha256)
    if to_baseline is None:
        raise RuntimeError("--jpeg baseline needs the C extension interhand/preprocess/_jpeg_baseline.c")
    try:
        encoded, reason = to_baseline(source)
    except ValueError as error:  # libjpeg cannot read it; check_image let it through, so it is kept as it is
        encoded, reason = None, str(error)
    if encoded is None:
        return StoredImage(source, "source", reason, len(source), source_sha256)
    return StoredImage(encoded, "baseline", "", len(source), source_sha256)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _done_path(job: ShardJob) -> Path:
    return Path(job.work_dir) / "shards" / f"{job.name}.done.json"


def _fragment_paths(job: ShardJob) -> tuple[Path, Path]:
    """The shard's manifest and errors fragments, which finalize stitches together."""
    fragments = Path(job.work_dir) / "shards"
    return (fragments / f"{job.name}.manifest{FRAGMENT_SUFFIX}", fragments / f"{job.name}.errors{FRAGMENT_SUFFIX}")


def shard_is_done(job: ShardJob) -> dict | None:
    """The finished-shard record if this shard was completed by an identical plan and its bytes verify."""
    done, tar_path = _done_path(job), Path(job.out_dir) / job.name
    if not done.is_file() or not tar_path.is_file() or not all(path.is_file() for path in _fragment_paths(job)):
        return None
    try:
        record = json.loads(done.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # a corrupt record (a crash, an edit): the shard is rewritten
    if not isinstance(record, dict) or record.get("plan_hash") != job.plan_hash or \
            file_sha256(tar_path) != record.get("sha256"):
        return None
    index_path = Path(job.out_dir) / index_name(job.name)  # an edited index is rewritten too
    if not index_path.is_file() or file_sha256(index_path) != record.get("index_sha256"):
        return None
    return record


def _read_images(paths: list[str]) -> Iterator[tuple[bytes, str]]:
    """(bytes, '') or (b'', reason) per path, in order. The next _READ_AHEAD files are opened and announced
    (posix_fadvise WILLNEED), so that the kernel reads them while this process packs the current ones."""
    announce = getattr(os, "posix_fadvise", None)
    opened: deque = deque()

    def open_next(path: str) -> None:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError as error:
            opened.append((path, error))
            return
        if announce is not None:
            announce(descriptor, 0, 0, os.POSIX_FADV_WILLNEED)
        opened.append((path, descriptor))

    upcoming = iter(paths)
    for path in upcoming:
        open_next(path)
        if len(opened) >= _READ_AHEAD:
            break
    try:
        while opened:
            path, descriptor = opened.popleft()
            following = next(upcoming, None)
            if following is not None:
                open_next(following)
            try:
                if isinstance(descriptor, OSError):
                    raise descriptor
                with open(descriptor, "rb") as image_file:
                    data = image_file.read()
            except OSError as error:
                yield b"", f"image unreadable ({error.strerror}): {path}"
            else:
                yield data, ""
    finally:
        for _, descriptor in opened:
            if isinstance(descriptor, int):
                os.close(descriptor)


class _ShardContent:
    """What one shard's samples add besides the tar: manifest columns, `.ann` records, errors, DALI index."""

    def __init__(self, job: ShardJob) -> None:
        self.job = job
        self.infos: list[SampleInfo] = []
        self.anns: list[np.ndarray] = []
        self.locations: dict[str, list] = {}
        self.errors: list[dict] = []
        self.index_entries: list = []

    def reject(self, info: SampleInfo, reason: str) -> None:
        self.errors.append({"source_file": info.image_path, "annotation_id": info.annotation_id, "key": info.key,
                            "stage": "image", "reason": reason})

    def add_batch(self, writer: TarWriter, infos: list[SampleInfo], anns: np.ndarray, images: list[StoredImage]
                  ) -> None:
        for info, image, text, ann in zip(infos, images, encode_json_records(anns, infos, self.job.subset), anns):
            key, image_member = info.key, info.image_member
            members = sorted([(image_member, image.data), (JSON_MEMBER, text), (ANN_MEMBER, ann.tobytes())])
            offsets = writer.add_files([(f"{key}.{ext}", data) for ext, data in members])
            location = {"key": key, "shard": self.job.name, "shard_index": self.job.index,
                        "position": len(self.infos), "image_member": image_member,
                        "image_encoding": image.encoding, "image_encoding_reason": image.reason,
                        "image_sha256": hashlib.sha256(image.data).hexdigest() if image.encoding != "source"
                        else image.source_sha256,
                        "source_file": os.path.relpath(info.image_path, self.job.root) if self.job.root
                        else info.image_path,
                        "source_size": image.source_size, "source_sha256": image.source_sha256}
            for (ext, data), offset in zip(members, offsets):
                column = "image" if ext == image_member else ext
                location.update({f"{column}_offset": offset, f"{column}_size": len(data),
                                 f"{column}_crc32": zlib.crc32(data)})
            for name, value in location.items():
                self.locations.setdefault(name, []).append(value)
            self.index_entries.append((key, [(ext, offset, len(data)) for (ext, data), offset in zip(members, offsets)]))
            self.infos.append(info)
        self.anns.append(anns)

    def manifest(self):
        anns = np.concatenate(self.anns) if self.anns else np.zeros((0, ANN_FLOATS), ANN_DTYPE)
        return manifest_table(self.locations, self.infos, self.job.subset, anns)


def _write_samples(job: ShardJob, writer: TarWriter) -> _ShardContent:
    with ExitStack() as stack:
        anns, infos = read_spilled([stack.enter_context(open(path, "rb")) for path in job.spill_paths], job.records)
    content = _ShardContent(job)
    images = _read_images([info.image_path for info in infos])
    for start in range(0, len(infos), _BATCH):
        accepted, batch = [], []
        for row in range(start, min(start + _BATCH, len(infos))):
            data, problem = next(images)
            problem = problem or check_image(data, infos[row], job.full_decode)
            if problem:
                content.reject(infos[row], problem)
            else:
                accepted.append(row)
                batch.append(store_image(data, infos[row].image_member, job.jpeg))
        if accepted:
            content.add_batch(writer, [infos[row] for row in accepted], anns[accepted], batch)
    return content


def partial_paths(job: ShardJob) -> tuple[Path, Path]:
    """The temporary names under which `job`'s tar and index are written until they are complete."""
    out_dir = Path(job.out_dir)
    return out_dir / (job.name + ".tmp"), out_dir / (index_name(job.name) + ".tmp")


def write_shard(job: ShardJob) -> ShardResult:
    """Write (or keep, if already done and verified) one shard and its fragments."""
    record = shard_is_done(job)
    if record is not None:
        return ShardResult(job.index, job.name, record["samples"], record["errors"], record["bytes"],
                           record["sha256"], resumed=True)
    out_dir, (manifest_path, errors_path) = Path(job.out_dir), _fragment_paths(job)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    tar_path, index_path = out_dir / job.name, out_dir / index_name(job.name)
    tmp_path, index_tmp = partial_paths(job)
    try:
        with open(tmp_path, "wb") as handle:
            writer = TarWriter(handle)
            content = _write_samples(job, writer)
            writer.close()
        index_tmp.write_text(dali_index_text(content.index_entries))
        write_manifest(content.manifest(), manifest_path, fragment=True)
        write_errors(content.errors, errors_path, fragment=True)
    except BaseException:
        for path in (tmp_path, index_tmp):  # a failure (a full disk) leaves no partial shard behind
            path.unlink(missing_ok=True)
        raise
    sha256, size, samples, errors = writer.sha256.hexdigest(), writer.offset, len(content.infos), len(content.errors)
    os.replace(index_tmp, index_path)
    os.replace(tmp_path, tar_path)
    done = {"plan_hash": job.plan_hash, "sha256": sha256, "bytes": size, "samples": samples, "errors": errors,
            "index_sha256": file_sha256(index_path)}
    done_tmp = _done_path(job).with_suffix(".tmp")
    done_tmp.write_text(json.dumps(done, indent=1))
    os.replace(done_tmp, _done_path(job))
    return ShardResult(job.index, job.name, samples, errors, size, sha256, resumed=False)
