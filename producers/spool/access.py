"""Opening what a spool directory holds, which is hostile until read (I/O).

Nothing is opened through a symlink (``O_NOFOLLOW``), and only regular files this user owns
are read as segments or locked: opening a planted link the usual way would read, or set
the mode of, a file elsewhere. Nothing blocks on open (``O_NONBLOCK``: a FIFO).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from handrail.files import FileModes, try_lock
from handrail.producers.spool.errors import UnreadableSegmentError
from handrail.producers.spool.layout import LOCK


def refused(st: os.stat_result) -> str:
    """Why a file with this status may not be read as a segment ("" when it may)."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink (not followed)"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this user"
    return ""


def refused_directory(directory: Path) -> str:
    """Why a session directory may not be read (a symlink, another user's; "" if it may)."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return ""
    if not stat.S_ISDIR(st.st_mode):
        return "a symlink (not followed)" if stat.S_ISLNK(st.st_mode) else "not a directory"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this user"
    return ""


def why_not(error: BaseException) -> str:
    """The reason an ``open_segment`` or ``open_lock`` failed, for a quarantine row."""
    if isinstance(error, OSError) and error.errno == errno.ELOOP:
        return "a symlink (not followed)"
    if isinstance(error, OSError):
        return f"cannot be opened ({errno.errorcode.get(error.errno or 0, error.errno)})"
    return str(error)


def _checked(fd: int) -> int:
    refusal = refused(os.fstat(fd))
    if refusal:
        raise UnreadableSegmentError(refusal)
    return fd


def open_segment(path: Path) -> IO[bytes]:
    """``path`` opened for reading, never through a symlink (``OSError`` ``ELOOP``), and
    only if it is a regular file this user owns (``UnreadableSegmentError``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        return os.fdopen(_checked(fd), "rb")
    except BaseException:
        os.close(fd)
        raise


def open_lock(directory: Path, modes: FileModes) -> IO[str]:
    """A session's lock file opened (created if missing, with the file mode) to ``flock``
    it; refused as ``open_segment`` refuses (``OSError``, ``UnreadableSegmentError``)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(directory / LOCK, flags, 0o600)
    try:
        modes.secure(_checked(fd))
        return os.fdopen(fd, "a")
    except BaseException:
        os.close(fd)
        raise


def take_lock(directory: Path, modes: FileModes) -> IO[str] | None:
    """A session's lock, held; None when another process holds it. Raises as
    ``open_lock``."""
    handle = open_lock(directory, modes)
    if not try_lock(handle):
        handle.close()
        return None
    return handle
