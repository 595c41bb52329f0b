"""The format version (SHARD_FORMAT.md §6) and the check every reader makes of it."""

from __future__ import annotations

__all__ = ["FORMAT_VERSION", "FormatVersionError", "check_format_version"]

# Bump on any change of key scheme, member set, `.ann` layout, manifest schema or dataset.json keys
# (SHARD_FORMAT.md §6).
# 2: the image member may be the source JPEG re-encoded losslessly as baseline, with the manifest's image columns
# (image_encoding, image_sha256, source_*); dataset.json records `complete`, `error_fraction`, `max_errors` and
# `files` (the folder-integrity section of names.py).
# 3: the `.json` record holds exactly the manifest's content columns (RECORD_FIELDS: same names, types, units, never
# null; absent RootNet/MANO joins are zeros with their `*_valid` flag 0), and the `.ann` pair `hand_type` is
# `hand_type_onehot`, `image_size` is `image_size_px` (the manifest's `image_size` is the image member's bytes);
# a finished folder also holds the published files and SHA256SUMS (PUBLISHED_FILES, CHECKSUMS_FILE).
# 4: a per-hand presence flag (`.ann` `hand_present` appended after the version-3 fields, whose offsets stay; the
# records' and manifest's `right_present` / `left_present`), and an absent hand's joints and wrist depth are zeros
# instead of the release's meaningless numbers (ann_codec.set_hand_presence).
FORMAT_VERSION = 4
# Older versions differ by the stored image (1: always the source bytes), the manifest's columns, dataset.json's
# integrity keys (1), the `.json` record's layout (1, 2), the published files (1, 2) and the per-hand presence flag
# (1 to 3): readers refuse them and say how to rewrite them.
_REWRITE_HINT = {version: "; re-run `interhand shards` with the same options into a new --shards folder to rewrite it"
                 for version in (1, 2, 3)}


class FormatVersionError(ValueError):
    """A shard, manifest or dataset.json written in a format version this code does not read."""


def check_format_version(found: object, where: str) -> None:
    """Raise FormatVersionError naming the found and expected version unless they match."""
    if found != FORMAT_VERSION:
        hint = _REWRITE_HINT.get(found, "") if isinstance(found, int) else ""
        raise FormatVersionError(f"{where}: format_version {found!r} found, this code reads {FORMAT_VERSION}{hint}")
