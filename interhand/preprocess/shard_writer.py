"""Write one shard: a webdataset tar (as *.tar.tmp, renamed when complete), its DALI index, and its
manifest/errors fragments. The tar writer (`tar_writer`, fixed mtime and owner) and the sorted member order make
reruns byte-identical; `images` checks each image and says what is stored for it.

Per batch of samples: the images are read with the next ones announced to the kernel (shuffled order
means random reads; a cold disk serves several at once), the `.json` members are encoded together from
the spilled `.ann` records, and each sample's three members go to the tar in one write.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from interhand.manifests.schema import manifest_table
from interhand.manifests.write import FRAGMENT_SUFFIX, write_errors, write_manifest
from interhand.outputs import create_temporary, make_folder, output_errors, publish, write_json
from interhand.preprocess.images import StoredImage, check_image, store_image
from interhand.preprocess.sources.common import data_relative, error_row, image_rejection
from interhand.preprocess.spill import read_spilled
from interhand.preprocess.tar_writer import TarWriter
from interhand.shard_format.ann_codec import ANN_DTYPE, ANN_FLOATS
from interhand.shard_format.dali_index import dali_index_text
from interhand.shard_format.dataset_json import file_sha256  # re-exported: `interhand verify` imports it from here
from interhand.shard_format.names import ANN_MEMBER, JSON_MEMBER, index_name
from interhand.shard_format.records import encode_json_records
from interhand.shard_format.sample import SampleInfo

__all__ = ["ShardJob", "ShardResult", "partial_paths", "write_shard", "shard_is_done", "file_sha256"]

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
        row = error_row(image_rejection(info, reason), "image")
        self.errors.append(data_relative(row, self.job.root) if self.job.root else row)  # as source_file below

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
            self.index_entries.append(
                (key, [(ext, offset, len(data)) for (ext, data), offset in zip(members, offsets)]))
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
    make_folder(manifest_path.parent)
    tar_path, index_path = out_dir / job.name, out_dir / index_name(job.name)
    tmp_path, index_tmp = partial_paths(job)
    try:
        # a link planted at either name is refused, never followed; a failing write names the file
        with create_temporary(tmp_path) as handle, output_errors(tmp_path):
            writer = TarWriter(handle)
            content = _write_samples(job, writer)
            writer.close()
        with create_temporary(index_tmp, binary=False) as handle:
            handle.write(dali_index_text(content.index_entries))
        write_manifest(content.manifest(), manifest_path, fragment=True)
        write_errors(content.errors, errors_path, fragment=True)
    except BaseException:
        for path in (tmp_path, index_tmp):  # a failure (a full disk) leaves no partial shard behind
            path.unlink(missing_ok=True)
        raise
    sha256, size, samples, errors = writer.sha256.hexdigest(), writer.offset, len(content.infos), len(content.errors)
    publish(index_tmp, index_path)
    publish(tmp_path, tar_path)
    done = {"plan_hash": job.plan_hash, "sha256": sha256, "bytes": size, "samples": samples, "errors": errors,
            "index_sha256": file_sha256(index_path)}
    write_json(_done_path(job), done, indent=1)
    return ShardResult(job.index, job.name, samples, errors, size, sha256, resumed=False)
