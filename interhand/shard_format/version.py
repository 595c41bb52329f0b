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
FORMAT_VERSION = 3
# Older versions differ by the stored image (1: always the source bytes), the manifest's columns, dataset.json's
# integrity keys (1), the `.json` record's layout (1, 2) and the published files (1, 2): readers refuse them and
# say how to rewrite them.
_REWRITE_HINT = {version: "; re-run `interhand shards` with the same options into a new --shards folder to rewrite it"
                 for version in (1, 2)}


class FormatVersionError(ValueError):
    """A shard, manifest or dataset.json written in a format version this code does not read."""


def check_format_version(found: object, where: str) -> None:
    """Raise FormatVersionError naming the found and expected version unless they match."""
    if found != FORMAT_VERSION:
        hint = _REWRITE_HINT.get(found, "") if isinstance(found, int) else ""
        raise FormatVersionError(f"{where}: format_version {found!r} found, this code reads {FORMAT_VERSION}{hint}")
