"""Progress of long jobs: a tqdm bar on a terminal, periodic plain lines in logs; and their warnings.

Every long job (synth, shards, train, eval, verify, the benchmarks) reports through `progress()`. On a
terminal it is tqdm's bar (count, rate, ETA); when stderr is not a terminal (a benchmark's or CI's log)
it writes one plain line every `every_s` seconds or every tenth of the total, whichever comes first, and
one at the end, instead of thousands of carriage-return updates. Library code does not print: what a job has
to tell the person running it (a snapshot passed over on --continue) it logs as a warning, which the entry
points (the CLI, each torchrun worker) show on stderr as it is (`show_warnings`).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Optional, TextIO

from tqdm import tqdm

__all__ = ["progress", "PlainProgress", "show_warnings"]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60:02d}:{seconds % 60:02d}"


class PlainProgress:
    """tqdm's interface as used here (update, set_postfix, set_description, reset, close, n) as plain lines:
    `desc: 120/480 (25%) 3.1 img/s, elapsed 00:38, ETA 01:55, loss=0.1`."""

    def __init__(self, total: Optional[int] = None, desc: str = "", unit: str = "it", initial: int = 0,
                 file: Optional[TextIO] = None, every_s: float = 10.0, disable: bool = False) -> None:
        self.total, self.desc, self.unit, self.n, self.disable = total, desc, unit, initial, disable
        self.file, self.every_s = file if file is not None else sys.stderr, every_s
        self.postfix = ""
        self._start_n = initial
        self._start = self._last_time = time.perf_counter()
        self._last_tenth = self._tenth(initial)
        self._emitted_n: Optional[int] = None
        self._closed = False

    def _tenth(self, count: int) -> int:
        return count * 10 // self.total if self.total else 0

    def line(self) -> str:
        elapsed = time.perf_counter() - self._start
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        count = f"{self.n}/{self.total} ({self.n / self.total:.0%})" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {count} {self.unit}", f"{rate:.3g} {self.unit}/s", f"elapsed {_duration(elapsed)}"]
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        return ", ".join(parts) + (f", {self.postfix}" if self.postfix else "")

    def _emit(self) -> None:
        if not self.disable:
            print(self.line(), file=self.file, flush=True)
        self._last_time, self._last_tenth, self._emitted_n = time.perf_counter(), self._tenth(self.n), self.n

    def update(self, count: int = 1) -> None:
        self.n += count
        if time.perf_counter() - self._last_time >= self.every_s or self._tenth(self.n) > self._last_tenth:
            self._emit()

    def set_postfix(self, ordered_dict: Optional[dict] = None, refresh: bool = True, **values) -> None:
        values = {**(ordered_dict or {}), **values}
        self.postfix = ", ".join(f"{name}={value}" for name, value in values.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def reset(self, total: Optional[int] = None) -> None:
        self.n = self._start_n = 0
        self.total = total if total is not None else self.total
        self._start = self._last_time = time.perf_counter()
        self._last_tenth = 0

    def close(self) -> None:
        if not self._closed and self._emitted_n != self.n:
            self._emit()
        self._closed = True

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def progress(total: Optional[int] = None, desc: str = "", unit: str = "it", enabled: bool = True, initial: int = 0,
             leave: bool = True, file: Optional[TextIO] = None, every_s: float = 10.0):
    """A progress reporter: tqdm's bar on a terminal, `PlainProgress` lines otherwise; silent unless `enabled`."""
    stream = file if file is not None else sys.stderr
    if enabled and getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=stream, dynamic_ncols=True)
    return PlainProgress(total, desc, unit, initial, stream, every_s, disable=not enabled)


def show_warnings() -> None:
    """At an entry point: the library's logged warnings go to stderr, one plain line each."""
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
