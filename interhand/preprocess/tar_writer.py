"""The shards' tar writer: a minimal ustar writer with fixed header fields (mtime 0, uid/gid 0, mode 0444, no owner
names), so that the same members give the same bytes, which is what makes resume checkable (SHARD_FORMAT.md §1)."""

from __future__ import annotations

import hashlib
import tarfile

__all__ = ["TarWriter", "ustar_header"]

# Fixed header fields: the same input gives the same bytes.
_MTIME = 0
_MODE = 0o444
_RECORD_SIZE = tarfile.RECORDSIZE


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
