"""Streaming JSON: walk the outer containers of a huge file, decode only one inner value at a time.

The real InterHand2.6M train annotations are several GB; `json.load` of them (what pycocotools does)
needs tens of GB of RAM. Here the outer `{...}` / `[...]` levels are walked by a small tokenizer and each
inner value (one image, one annotation, one frame's joints) is decoded by the stdlib's C scanner
(`JSONDecoder.raw_decode`) from a bounded text buffer, so memory is one chunk plus one value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

__all__ = ["JsonStructureError", "JsonStream", "iter_array_items", "iter_object_items"]

_WHITESPACE = " \t\n\r"
_CHUNK_CHARS = 1 << 22
# No single inner value (one image, annotation or frame) comes near this; a decode error past it means
# malformed JSON, and reading on would pull the rest of a multi-GB file into memory.
_MAX_VALUE_CHARS = 1 << 28


class JsonStructureError(ValueError):
    """The file is not the JSON this reader expects; the message names the file and the position."""


class JsonStream:
    """A cursor over a JSON text file, read in chunks."""

    def __init__(self, path: Path, chunk_chars: int = _CHUNK_CHARS, max_value_chars: int = _MAX_VALUE_CHARS) -> None:
        self.path = Path(path)
        self._file = open(self.path, encoding="utf-8")
        self._chunk_chars = chunk_chars
        self._max_value_chars = max_value_chars
        self._buffer = ""
        self._position = 0
        self._consumed = 0  # characters dropped from the front of the buffer
        self._eof = False
        self._decoder = json.JSONDecoder()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "JsonStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def error(self, message: str) -> JsonStructureError:
        return JsonStructureError(f"{self.path}: {message} (at character {self._consumed + self._position})")

    def _fill(self) -> bool:
        if self._eof:
            return False
        if self._position > len(self._buffer) // 2:
            self._consumed += self._position
            self._buffer = self._buffer[self._position:]
            self._position = 0
        try:
            chunk = self._file.read(self._chunk_chars)
        except UnicodeDecodeError as error:
            raise self.error(f"not UTF-8 text ({error.reason})") from error
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end of the file)."""
        while True:
            buffer, position = self._buffer, self._position
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            self._position = position
            if position < len(buffer):
                return buffer[position]
            if not self._fill():
                return ""

    def expect(self, characters: str) -> str:
        found = self.peek()
        if not found or found not in characters:
            raise self.error(f"expected one of {characters!r}, found {found or 'end of file'!r}")
        self._position += 1
        return found

    def value(self) -> object:
        """Decode the next complete JSON value."""
        if not self.peek():
            raise self.error("unexpected end of file")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError as error:
                if len(self._buffer) - self._position < self._max_value_chars and self._fill():
                    continue
                raise self.error(f"invalid or truncated JSON: {error.msg}") from error
            # A number or literal that ends exactly at the buffer end may continue in the next chunk.
            if end == len(self._buffer) and not isinstance(value, (dict, list, str)) and self._fill():
                continue
            self._position = end
            return value

    def skip(self) -> None:
        self.value()

    def array(self) -> Iterator[None]:
        """Step into an array; yields once per item, with the cursor on that item (caller must consume it)."""
        self.expect("[")
        if self.peek() == "]":
            self._position += 1
            return
        while True:
            yield None
            if self.expect(",]") == "]":
                return

    def object(self) -> Iterator[str]:
        """Step into an object; yields each key with the cursor on its value (caller must consume it)."""
        self.expect("{")
        if self.peek() == "}":
            self._position += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("expected an object key")
            key = self.value()
            self.expect(":")
            yield key
            if self.expect(",}") == "}":
                return


def iter_array_items(stream: JsonStream) -> Iterator[object]:
    """Decoded items of the array under the cursor, one at a time."""
    for _ in stream.array():
        yield stream.value()


def iter_object_items(stream: JsonStream) -> Iterator[tuple[str, object]]:
    """(key, decoded value) pairs of the object under the cursor, one at a time."""
    for key in stream.object():
        yield key, stream.value()
