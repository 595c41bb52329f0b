"""One job per run folder: an exclusive flock on RUN/.lock, held by the process that launched the job."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

__all__ = ["RunFolderBusy", "run_folder_lock"]


class RunFolderBusy(ValueError):
    """Another job holds the run folder."""


@contextlib.contextmanager
def run_folder_lock(folder: Path, job: str) -> Iterator[None]:
    """Hold `folder`/.lock for the time of the job; a second job on the same folder is refused in one line, before it
    writes anything (its config, its log, its snapshots would mix with the first's). The lock dies with its
    process, so a killed job leaves none behind; the lock file is opened without following a planted symlink."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(f"{folder} is in use by another `interhand {job}` (it holds {path}); wait for it to "
                                "end or stop it, or use another --run-dir") from None
        yield
    finally:
        os.close(handle)
