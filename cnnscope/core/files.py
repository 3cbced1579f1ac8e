"""Reading a file a user handed us: regular files only, a bounded number of bytes, never a hang.

A named pipe, a device (``/dev/zero``) or a socket would block a reader forever or feed it without
end, so the file is opened non-blocking and checked with ``fstat`` on the open descriptor (no race
between checking and reading) before a byte is read. Reads stop at a size limit, and a read that
does not finish in time (a stalled network mount) is abandoned with a clear error, so the caller's
thread is never held by a file.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

#: Said of each kind of file that is not a regular one.
_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

#: How long the window lets a read take before giving up (a stalled network drive), seconds.
READ_TIMEOUT = 10.0


class FileRefused(Exception):
    """The file cannot be read safely; ``str()`` is the user's sentence (without the file's role)."""


def refuse_unwritable(path) -> None:
    """Raise OSError when ``path`` exists and is not a regular file: writing into a folder fails,
    and into a named pipe no one reads it would hang (or, opened for reading too, fail late)."""
    if not str(path).strip():
        raise OSError(errno.EINVAL, "an empty name is not a file name: choose one for --out", str(path))
    try:
        mode = os.stat(path).st_mode
    except OSError:  # not there yet (the usual case), or the write will say why
        return
    for test, kind in _NOT_REGULAR:
        if test(mode):
            raise OSError(errno.EINVAL, f"it is {kind}, not a regular file: choose another name", str(path))


def make_folder(path) -> Path:
    """Create the output folder ``path`` (and its parents) and return it; an OSError that says why
    when the name is empty or names a file, a named pipe or a device (mkdir's own "File exists"
    would not)."""
    text = str(path)
    if not text.strip():
        raise OSError(errno.EINVAL, "an empty name is not a folder: choose a folder for --out", text)
    folder = Path(path)
    try:
        mode = os.stat(folder).st_mode
    except OSError:  # not there yet: made below (or mkdir says why not)
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        kind = describe_kind(mode) or "a file"
        raise OSError(errno.ENOTDIR, f"it is {kind}, not a folder: choose another folder for --out", text)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def human_bytes(count: float) -> str:
    """``count`` bytes as a short figure: '3.9 MB', '4.0 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def describe_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    return next((words for test, words in _NOT_REGULAR if test(mode)), None if stat.S_ISREG(mode)
                else "not a regular file")


def check_regular(path: str | os.PathLike) -> int:
    """Size in bytes of ``path`` if it is a regular file (links followed); else FileRefused.

    ``stat`` never blocks on a pipe, so this is safe to call on any thread.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileRefused(f"'{path}' does not exist.") from None
    except OSError as exc:
        raise FileRefused(f"'{Path(path).name}' could not be read: {exc.strerror or exc}.") from None
    kind = describe_kind(info.st_mode)
    if kind is not None:
        raise FileRefused(f"'{Path(path).name}' is {kind}, not a file.")
    return info.st_size


def read_bounded(path: str | os.PathLike, max_bytes: int, timeout: float | None = None,
                 what: str = "file") -> bytes:
    """The bytes of regular file ``path``, at most ``max_bytes`` of them, else FileRefused.

    With ``timeout``, a read still going after that many seconds is abandoned (its thread is left
    to finish on its own) and FileRefused says so.
    """
    if timeout is None:
        return _read(path, max_bytes, what)
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["data"] = _read(path, max_bytes, what)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    reader = threading.Thread(target=work, name="cnnscope-file-read", daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise FileRefused(f"'{Path(path).name}' could not be read within {timeout:.0f} s "
                          "(is it on a network drive that stopped answering?).")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["data"]  # type: ignore[return-value]


def _read(path: str | os.PathLike, max_bytes: int, what: str) -> bytes:
    name = Path(path).name
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileRefused(f"'{path}' does not exist.") from None
    except IsADirectoryError:
        raise FileRefused(f"'{name}' is a folder, not a file.") from None
    except OSError as exc:
        raise FileRefused(f"'{name}' could not be read: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        kind = describe_kind(info.st_mode)
        if kind is not None:
            raise FileRefused(f"'{name}' is {kind}, not a file.")
        if info.st_size > max_bytes:
            raise FileRefused(_too_big(name, info.st_size, max_bytes, what))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:  # a file can grow while we read it, or report size 0 (/proc): count as we go
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise FileRefused(_too_big(name, total, max_bytes, what, at_least=True))
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"'{name}' could not be read: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)


def _too_big(name: str, size: int, limit: int, what: str, at_least: bool = False) -> str:
    return (f"'{name}' is {'over ' if at_least else ''}{human_bytes(size)}; cnnscope reads "
            f"{what}s of up to {human_bytes(limit)}.")


