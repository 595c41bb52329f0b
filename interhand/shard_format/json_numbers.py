"""JSON texts of float arrays rounded to 1e-4, written for many rows at once without a Python float per number.

`array_texts(values, shapes)` gives, per row, what `json.dumps(round(array, 4).tolist(), separators=(",", ":"))`
writes for each array, byte for byte: the `.json` record's numbers (SHARD_FORMAT.md §4) are written by it. Rows
with a value that rounds to 10_000 or more, NaN or inf take json.dumps itself (which refuses NaN and inf).
"""

from __future__ import annotations

import functools
import json

import numpy as np

__all__ = ["DECIMALS", "array_texts"]

DECIMALS = 4
_FAST_LIMIT = 10.0 ** (4 + DECIMALS)  # |value| rounded below 10_000: the token tables below cover it


def _brackets(shapes: tuple[tuple[int, ...], ...]) -> tuple[list[str], list[str]]:
    """Per number of the concatenated arrays, the brackets/comma written before and after it."""
    before, after = [], []
    for shape in shapes:
        for flat in range(int(np.prod(shape))):
            index = np.unravel_index(flat, shape)
            opens = next(axis for axis in range(len(shape) + 1) if not any(index[axis:]))
            closes = next(axis for axis in range(len(shape) + 1)
                          if all(i == size - 1 for i, size in zip(index[axis:], shape[axis:])))
            before.append("[" * (len(shape) - opens))
            after.append("]" * (len(shape) - closes) + ("," if closes else ""))
    return before, after


def _packed(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """ASCII texts of at most 8 bytes → (uint64 words holding each left-aligned, little-endian; lengths)."""
    return (np.array([int.from_bytes(text.encode(), "little") for text in texts], np.uint64),
            np.array([len(text) for text in texts], np.uint64))


@functools.cache
def _tables(shapes: tuple[tuple[int, ...], ...]) -> dict:
    before, after = _brackets(shapes)
    return {"starts": np.concatenate([[0], np.cumsum([int(np.prod(shape)) for shape in shapes])]).astype(np.int64),
            "before": _packed(before), "after": _packed(after),
            "integer": _packed([str(number) for number in range(10_000)]),
            "fraction": _packed(["." + (f"{number:04d}".rstrip("0") or "0") for number in range(10_000)]),
            "keep": np.array([int.from_bytes(b"\1" * length, "little") for length in range(9)], np.uint64)}


def _format_numbers(scaled: np.ndarray, tables: dict) -> tuple[str, np.ndarray]:
    """JSON numbers without Python floats: (n, m) rint(value * 1e4), each |.| < _FAST_LIMIT → the texts
    json.dumps writes for round(value, 4), each inside its brackets/comma, concatenated row by row; and
    the (n, m) text lengths. round(v, 4) is rint(v * 1e4) / 1e4 (numpy's algorithm), whose shortest repr
    is the integer with its decimal point put back and trailing zeros dropped (one kept)."""
    (before, before_length), (after, after_length) = tables["before"], tables["after"]
    (integer_text, integer_length), (fraction_text, fraction_length) = tables["integer"], tables["fraction"]
    minus = np.signbit(scaled).astype(np.uint64)  # -0.0 is written "-0.0", as repr does
    magnitude = np.abs(scaled).astype(np.int64)
    integer = magnitude // 10_000
    fraction = magnitude - integer * 10_000
    eight = np.uint64(8)
    # Each number is two words: brackets + sign + integer digits, then "." + fraction digits + brackets/comma.
    head_length = before_length + minus + integer_length[integer]
    head = before | ((minus * np.uint64(ord("-"))) << (eight * before_length)) | \
        (integer_text[integer] << (eight * (before_length + minus)))
    tail_length = fraction_length[fraction] + after_length
    tail = fraction_text[fraction] | (after << (eight * fraction_length[fraction]))
    words = np.stack([head, tail], axis=-1)
    keep = np.stack([tables["keep"][head_length], tables["keep"][tail_length]], axis=-1)
    text = np.compress(keep.view(np.bool_).ravel(), words.view(np.uint8).ravel())
    return text.tobytes().decode("ascii"), (head_length + tail_length).astype(np.int64)


def array_texts(values: np.ndarray, shapes: tuple[tuple[int, ...], ...]) -> list[list[str]]:
    """Per row of `values` (n, m), whose m numbers are arrays of `shapes` one after another (each flattened in C
    order), the JSON text of each array as json.dumps writes its values rounded to DECIMALS."""
    tables = _tables(tuple(tuple(shape) for shape in shapes))
    scaled = np.rint(values.astype(np.float64) * 10.0 ** DECIMALS)
    fast = (np.abs(scaled) < _FAST_LIMIT).all(axis=1)  # False for NaN and inf, which json.dumps refuses below
    texts: list[list[str]] = [[] for _ in range(len(values))]
    fast_rows = np.flatnonzero(fast)
    # 16 rows at a time: temporaries stay under malloc's mmap threshold, about 3x faster than 64 rows.
    for rows in np.array_split(fast_rows, -(-len(fast_rows) // 16)) if len(fast_rows) else ():
        text, lengths = _format_numbers(scaled[rows], tables)
        ends = np.concatenate([[0], np.cumsum(lengths, axis=None)])
        bounds = ends[np.arange(len(rows))[:, None] * values.shape[1] + tables["starts"]]
        for row, edges in zip(rows.tolist(), bounds.tolist()):
            texts[row] = [text[start:stop] for start, stop in zip(edges[:-1], edges[1:])]
    for row in np.flatnonzero(~fast).tolist():
        rounded = values[row].astype(np.float64).round(DECIMALS)
        texts[row] = [json.dumps(rounded[start:stop].reshape(shape).tolist(), separators=(",", ":"), allow_nan=False)
                      for start, stop, shape in zip(tables["starts"][:-1], tables["starts"][1:], shapes)]
    return texts
