"""Every file a job writes is created here (issue #28): never through a planted symbolic link, never half-written
under its final name, and any failure to write it is one line naming the path and the free space there.

A file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` under a temporary name beside its final one, then renamed
over it (`os.replace` never follows a link either): a link planted at the temporary or the final name is refused
in one line, so nothing a job writes lands outside its folder. A regular file left under the temporary name (a
job killed mid-write) is removed first; the resume logic of `interhand shards` relies on that. Files that grow
(logs, lock files) are opened with `O_APPEND | O_NOFOLLOW`.

`output_errors` turns an OSError into `OutputError`, the one line; the CLI's entry point catches what escapes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import IO, Callable, Iterator

__all__ = ["OutputError", "output_error_line", "output_errors", "create_temporary", "publish", "atomic_file",
           "write_text", "write_bytes", "write_json", "append_text", "open_for_append", "make_folder", "save_with",
           "save_figure", "save_image", "plain_name", "OUTPUT_ERRNOS"]

# What a write can meet on the way out: a full disk or quota, a read-only file system or folder, a name too long,
# a file too large, a link where the file goes, a failing device.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                           errno.EFBIG, errno.EIO, errno.ELOOP, errno.EEXIST, errno.ENOTDIR, errno.EISDIR})
_FULL = (errno.ENOSPC, errno.EDQUOT)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_REFUSED = "{} is a symbolic link: refused (an output is never written through a link; remove it and re-run)"
_os_open = os.open  # the one call that creates an output file (the tests route it to /dev/full or EROFS)


class OutputError(ValueError):
    """An output file could not be written, or was refused (a link at its name); the message is one line."""


def _free_space(path: Path) -> str:
    """Free space on the disk that holds `path` (its nearest existing folder), e.g. "12.5 GiB free there"."""
    folder = Path(os.path.abspath(path))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if free >= size:
            return f"{free / size:.1f} {unit} free there"
    return f"{free} bytes free there"


def output_error_line(error: OSError, path: str | os.PathLike | None = None, remedy: str = "",
                      action: str = "while writing") -> str:
    """The one line for `error`, met while writing `path` (the error's own file name wins: it names the file the
    system refused): what happened, where, the free space there, and `remedy` if given. `action`: how the line
    places the path ("at" where the error may not come from a write)."""
    where = error.filename if error.filename is not None else path
    where = os.fsdecode(where) if where is not None else "an output file"
    if error.errno == errno.ELOOP:  # O_NOFOLLOW met a link at the name
        return _LINK_REFUSED.format(where)
    if error.errno in _FULL:
        reason = f"the disk is full ({os.strerror(error.errno)})"
    else:
        reason = error.strerror or (str(error).splitlines() or [type(error).__name__])[0]
    return f"{reason} {action} {where} ({_free_space(Path(where))})" + (f"; {remedy}" if remedy else "")


@contextlib.contextmanager
def output_errors(path: str | os.PathLike | None = None, remedy: str = "") -> Iterator[None]:
    """Turn an OSError raised inside into OutputError (one line naming the file and the free space). Also a
    decorator."""
    try:
        yield
    except OutputError:
        raise
    except OSError as error:
        raise OutputError(output_error_line(error, path, remedy)) from error


def _refuse_link(path: Path) -> None:
    """OutputError when something other than a regular file sits at `path` (a link, a folder, a FIFO)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise OutputError(_LINK_REFUSED.format(path))
    if not stat.S_ISREG(mode):
        raise OutputError(f"{path} is not a regular file: refused (remove it and re-run)")


def _open_flags(path: Path, flags: int, binary: bool) -> IO:
    with output_errors(path):
        descriptor = _os_open(path, flags, 0o644)
    return os.fdopen(descriptor, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"}))


def create_temporary(temporary: str | os.PathLike, binary: bool = True) -> IO:
    """A new file at `temporary` (a job's own temporary name), open for writing: a regular file left there by a
    killed run is replaced, a link or anything else refused."""
    temporary = Path(temporary)
    _refuse_link(temporary)
    with output_errors(temporary):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return _open_flags(temporary, _CREATE, binary)


def publish(temporary: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the finished `temporary` to `path`; a link planted at `path` is refused, not replaced."""
    _refuse_link(Path(path))
    with output_errors(path):
        os.replace(temporary, path)


def _temporary_name(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = True, temporary: str | os.PathLike | None = None
                ) -> Iterator[IO]:
    """`with atomic_file(path) as handle:` write to `handle`; on success the file appears at `path` complete, on
    any failure the temporary file is removed, `path` keeps what it held, and an OSError becomes one OutputError
    line."""
    path = Path(path)
    temporary = Path(temporary) if temporary is not None else _temporary_name(path)
    _refuse_link(path)
    handle = create_temporary(temporary, binary)
    try:
        with output_errors(path), handle:
            yield handle
        publish(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_file(path, binary=False) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, value, **dumps_options) -> Path:
    """`value` as JSON (`json.dumps(value, **dumps_options)`) and a newline."""
    return write_text(path, json.dumps(value, **dumps_options) + "\n")


def open_for_append(path: str | os.PathLike, binary: bool = False) -> IO:
    """`path` open for appending (created if missing), never through a link."""
    return _open_flags(Path(path), _APPEND, binary)


def append_text(path: str | os.PathLike, text: str) -> None:
    with output_errors(path), open_for_append(path) as handle:
        handle.write(text)


def make_folder(path: str | os.PathLike, within: str | os.PathLike | None = None) -> Path:
    """`mkdir -p path`; a failure is one OutputError line. With `within` (the output folder a job was given, which
    may itself be a link): every folder from below `within` down to `path` that a job makes for itself
    (`result/<run>`, `.work/shards`, ...) must be a real folder, not a planted link that would carry the job's
    files elsewhere (one OutputError line naming it)."""
    path = Path(path)
    with output_errors(path):
        if within is not None:
            _refuse_linked_folders(Path(within), path)
        path.mkdir(parents=True, exist_ok=True)
    return path


def _refuse_linked_folders(within: Path, path: Path) -> None:
    """OutputError for the first existing component of `path` below `within` that is a link or not a folder."""
    relative = path.relative_to(within)  # ValueError (a programming error) when path is not below within
    current = within
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return  # made by mkdir below: nothing planted further down
        if stat.S_ISLNK(mode):
            raise OutputError(f"{current} is a symbolic link: refused, a job's folders are never followed out of "
                              f"{within} (remove the link and re-run)")
        if not stat.S_ISDIR(mode):
            raise OutputError(f"{current} is not a folder: refused (remove it and re-run)")


def save_with(path: str | os.PathLike, save: Callable[[IO], object]) -> Path:
    """Hand a new file object at `path` to a library's writer, e.g. `save_with(path, lambda handle:
    figure.savefig(handle, format="png"))`, `pq.write_table(table, handle)`, `torch.save(payload, handle)`,
    `image.save(handle, format="PNG")` (a file object carries no suffix: name the format)."""
    with atomic_file(path) as handle:
        save(handle)
    return Path(path)


def save_figure(figure, path: str | os.PathLike, **savefig_options) -> Path:
    """A matplotlib figure at `path` (its format from the suffix), made folder and all."""
    path = Path(path)
    make_folder(path.parent)
    return save_with(path, lambda handle: figure.savefig(handle, format=path.suffix[1:], **savefig_options))


def save_image(image, path: str | os.PathLike, **save_options) -> Path:
    """A PIL image at `path` (its format from the suffix: .png, .jpg), made folder and all."""
    path = Path(path)
    make_folder(path.parent)
    kind = {"jpg": "JPEG", "jpeg": "JPEG"}.get(path.suffix[1:].lower(), path.suffix[1:].upper())
    return save_with(path, lambda handle: image.save(handle, format=kind, **save_options))


def plain_name(name: str, what: str) -> str:
    """`name` if it is a plain file name (no folder part, not `.`/`..`, no NUL), else ValueError naming `what`:
    names from the command line or from a file never lead out of their folder."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{what} {name!r} is not a plain name (no '/', not '.' or '..'): it names a folder "
                         "inside the output folder")
    return name
