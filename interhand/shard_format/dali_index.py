"""The DALI index beside each shard (`wds2idx` v1.2, SHARD_FORMAT.md §1): written by the shard writer, read by
the reference loader, compared byte for byte by `interhand verify`.

A header line `v1.2 <samples>`, then one line per sample: `ext offset size <key>.<ext>` per member, the offset
being that of the member's data in the tar.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["dali_index_text", "read_dali_index"]


def dali_index_text(entries: list[tuple[str, list[tuple[str, int, int]]]]) -> str:
    """The `wds2idx` v1.2 index: a header line, then per sample `ext offset size name` per member."""
    lines = [f"v1.2 {len(entries)}"]
    for key, members in entries:
        lines.append(" ".join(f"{ext} {offset} {size} {key}.{ext}" for ext, offset, size in members))
    return "\n".join(lines) + "\n"


def read_dali_index(path: str | Path) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """A shard's DALI index (`wds2idx` v1.2, §1): per sample, its key and {member: (data offset, size)}."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().split()
        if len(header) != 2 or header[0] != "v1.2":
            raise ValueError(f"{path}: not a wds2idx v1.2 index (header {' '.join(header)!r})")
        samples = []
        for number, line in enumerate(handle, start=2):
            fields = line.split()
            if not fields or len(fields) % 4:
                raise ValueError(f"{path}:{number}: expected groups of 'ext offset size name', got {line.strip()!r}")
            try:
                members = {fields[i]: (int(fields[i + 1]), int(fields[i + 2])) for i in range(0, len(fields), 4)}
            except ValueError:
                raise ValueError(f"{path}:{number}: offsets and sizes must be integers, got {line.strip()!r}") from None
            samples.append((fields[3].rsplit(".", 1)[0], members))
    if len(samples) != int(header[1]):
        raise ValueError(f"{path}: the header announces {header[1]} samples, the file lists {len(samples)}")
    return samples
