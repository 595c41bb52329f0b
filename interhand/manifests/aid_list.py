"""InterHand2.6M's annotation-id lists (`aid_human_annot_<split>.txt`: the H subset), read by preprocessing (which
samples to keep) and by scoring (the human_annot protocol)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["parse_aid_list"]


def parse_aid_list(path: Path) -> set[int]:
    """Annotation ids, one per line; a line that is not one is a ValueError naming the file and the line."""
    ids = set()
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            try:
                ids.add(int(line.strip()))
            except ValueError:
                raise ValueError(f"{path} line {line_number}: {line!r} is not an annotation id") from None
    return ids
