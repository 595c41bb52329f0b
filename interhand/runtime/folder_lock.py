"""One job per run folder: an exclusive flock on RUN/.lock, held by the process that launched the job."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from interhand.outputs import make_folder, output_errors

__all__ = ["RunFolderBusy", "run_folder_lock"]


class RunFolderBusy(ValueError):
    """Another job holds the run folder."""


@contextlib.contextmanager
def run_folder_lock(folder: Path, job: str, other: str = "another --run-dir",
                    within: Path | None = None) -> Iterator[None]:
    """Hold `folder`/.lock for the time of the job; a second job on the same folder is refused in one line, before it
    writes anything (its config, its log, its snapshots would mix with the first's). The lock dies with its
    process, so a killed job leaves none behind; the lock file is opened without following a planted symlink.
    `other`: what the refusal suggests instead (train's --run-dir, eval's --run-name, score's --out-dir); `within`:
    the output folder `folder` lies in, when the job makes `folder` itself (no planted link followed below it)."""
    folder = Path(folder)
    make_folder(folder, within=within)
    path = folder / ".lock"
    with output_errors(path):  # a link planted there: one line (ELOOP), never followed
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(f"{folder} is in use by another `interhand {job}` (it holds {path}); wait for it to "
                                f"end or stop it, or use {other}") from None
        yield
    finally:
        os.close(handle)
