"""The control channel of the embedded default (no Kafka): one append-only file on this
machine in place of the control topic. Halts, resumes, approval requests and decisions,
and handoff answers are appended by any process; every agent tails it.

Each entry is a frame (``handrail.frames``, the codec the journal shares): the magic
``HRC1``, a 4-byte big-endian length (at most ``MAX_ENTRY``, 16 MiB), the CRC32C of the
length and the body, then the body: one event in the wire format (the same bytes the
control topic would carry). Writers hold an exclusive ``flock`` while they append and
fsync, so frames never interleave, and a write that fails (a full disk) is cut back off
the file before the lock is released. Whatever else the file holds (a torn frame left
by a writer that died, bytes appended by something that is not handrail) cannot stop the
frames after it: a reader that meets a frame whose magic, length or CRC is wrong skips
forward to the next whole frame and logs the bytes it skipped.
A frame cut short at the end of the file is "not yet written" only while a writer holds
the lock (it could still complete); with the lock free it never will, and it is skipped.

Every agent reads the log from its start, so it must not grow without bound: an append
that takes it past ``max_bytes`` rewrites it, still under the lock, with only the entries
that still count (``control_compaction``; bytes that are no frame are logged and dropped,
every frame after them is kept), into a new file renamed over the old one. A writer that
opened the old file finds it replaced once it holds the lock, and appends to the new one;
a reader (``Tail``) that finds a new file reads it from its start (the entries it had read
are in it again when they still count, and applying them twice changes nothing). The log
is created with the modes given (``handrail.files``: 0600 by default), and an existing one
of this user's is set to them on every append. It is never read or written through a
symlink (``O_NOFOLLOW``): a path that is one is an error.

A log of the earlier format (a bare length before each entry, no magic at its start) is
read that way, as far as its entries are whole; the first append by this version rewrites
it in frames (under the lock) before appending. A process of the earlier version that
appends to a log in frames writes what this version skips as bytes that are no frame (and
logs): upgrade every process on the machine together.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from handrail.control.compaction import compact
from handrail.files import PRIVATE, FileModes, locked, try_lock, unlock
from handrail.frames import Damage, Frame, FrameCodec
from handrail.settings import SpoolSettings

log = logging.getLogger(__name__)
MAGIC = b"HRC1"
MAX_ENTRY = 16 << 20
"""The longest entry (an event's bytes) a frame may hold: a longer length is a bad frame.
Four times the most the default ``limits.max_event_chars`` let an event's strings take."""
FRAMES = FrameCodec(MAGIC, MAX_ENTRY)
_LENGTH = struct.Struct(">I")  # the earlier format's bare length


class ControlLog:
    def __init__(
        self, path: Path, max_bytes: int | None = None, modes: FileModes = PRIVATE
    ) -> None:
        """``max_bytes``: compact on an append past it (None: never)."""
        self.path = path
        self.max_bytes = max_bytes
        self.modes = modes
        self._limit = max_bytes
        """Compact past this: ``max_bytes``, or twice what the last compaction kept."""

    @classmethod
    def of(cls, spool: SpoolSettings, modes: FileModes = PRIVATE) -> ControlLog:
        return cls(spool.control_log, spool.control_log_max_bytes, modes)

    def append(self, values: Iterable[bytes]) -> None:
        """Append events (encoded) durably, as one frame each (one longer than
        ``MAX_ENTRY`` is logged and left out)."""
        data = FRAMES.encode_all(_fitting(values))
        if not data:
            return
        self.modes.parents(self.path)
        while True:
            with self.modes.open(self.path, "a+b") as f, locked(f):
                if not self._is_current(f):
                    continue  # compacted meanwhile: append to the new file
                if _is_old(os.pread(f.fileno(), len(MAGIC), 0)):
                    self._rewrite(f, keep_all=True)  # into frames, then append to it
                    continue
                _write_all(f.fileno(), data)
                if self._limit is not None and os.fstat(f.fileno()).st_size > self._limit:
                    self._limit = max(self.max_bytes or 0, 2 * self._rewrite(f))
                return

    def _is_current(self, f: IO[bytes]) -> bool:
        try:
            return os.fstat(f.fileno()).st_ino == os.lstat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _rewrite(self, f: IO[bytes], keep_all: bool = False) -> int:
        """Rewrite the log (the caller holds the lock on ``f``) in frames, with the entries
        that still count (all of them: ``keep_all``); the new size."""
        f.seek(0)
        read = Reader(_is_old(f.read(len(MAGIC))))
        f.seek(0)
        entries = read.entries(f.read(), 0, settled=True)
        kept = entries if keep_all else compact(entries)
        data = FRAMES.encode_all(kept)
        self.modes.write(self.path, data)
        log.info("control log rewritten: %d of %d entries still count", len(kept), len(entries))
        if self.max_bytes is not None and len(data) > self.max_bytes // 2:
            log.warning(
                "the control log holds %d bytes that still count (pending approvals, a day "
                "of decisions and answers); it is compacted again at twice that. Raise "
                "spool.control_log_max_bytes (%d), or use Kafka", len(data), self.max_bytes,
            )  # fmt: skip
        return len(data)

    def read(self, offset: int = 0) -> tuple[list[bytes], int]:
        """The whole entries from byte ``offset`` on, and the offset after the last one
        (past bytes that are no frame, and past a frame cut short that no writer holding
        the lock can still complete)."""
        try:
            f = _open(self.path)
        except FileNotFoundError:
            return [], offset
        with f:
            reader = Reader(_is_old(f.read(len(MAGIC))))
            return reader.read(f, offset)


class Tail:
    """A reader of the log's new entries, poll after poll, that follows the log into its
    new file when it is compacted. It keeps the file it reads open, so no other file can
    take that file's inode number while it compares it with the path's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._reader = Reader()
        self._offset = 0
        self._end = 0
        self._open()

    def read(self) -> list[bytes]:
        """The whole entries written since the last read (a new file: from its start)."""
        if (self._file is None or self._replaced()) and not self._open():
            return []
        assert self._file is not None
        values, self._offset = self._reader.read(self._file, self._offset)
        return values

    def at_end(self) -> bool:
        """Everything the file held when it was opened has been read."""
        return self._file is None or self._offset >= self._end

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _open(self) -> bool:
        try:
            new = _open(self.path)
        except FileNotFoundError:
            return False
        self.close()
        self._file, self._offset = new, 0
        self._end = os.fstat(new.fileno()).st_size
        self._reader = Reader(_is_old(new.read(len(MAGIC))))
        return True

    def _replaced(self) -> bool:
        assert self._file is not None
        try:
            return os.lstat(self.path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            return False


@dataclass
class Reader:
    """Entries out of one file's bytes, read on from where the last read stopped."""

    old: bool = False
    """Still in a log of the earlier format (a bare length before each entry)."""
    skipped: int = 0
    """The bytes skipped so far as no frame."""
    end: int = 0
    """The offset after the entries (and skipped bytes) read last."""

    def read(self, f: IO[bytes], offset: int) -> tuple[list[bytes], int]:
        """The whole entries in ``f`` from ``offset`` on, and the offset after them. A
        frame cut short at the end is read again next time, unless no writer holds the lock
        (then it never completes, and is skipped)."""
        f.seek(offset)
        data = f.read()
        values = self.entries(data, offset, settled=False)
        used = self.end - offset
        if used < len(data) and try_lock(f, shared=True):  # cut short, nobody writes it
            try:
                f.seek(offset + used)
                values += self.entries(f.read(), offset + used, settled=True)
            finally:
                unlock(f)
        return values, self.end

    def entries(self, data: bytes, offset: int, settled: bool) -> list[bytes]:
        """The entries of ``data`` (read at ``offset``); ``end`` is the offset after them.
        ``settled``: no writer holds the lock, so a frame cut short at the end is torn."""
        values: list[bytes] = []
        pos = 0
        if self.old:
            pos = _old_entries(data, values)
            if pos == len(data) or (not settled and _old_partial(data, pos)):
                self.end = offset + pos
                return values
            self.old = False  # no whole entry of the earlier format here: frames from now
        for piece in FRAMES.scan(data, pos, settled=settled):
            if isinstance(piece, Frame):
                values.append(piece.body)
            elif isinstance(piece, Damage):
                self._skip(offset + piece.start, piece.end - piece.start)
            else:
                break  # cut short at the end: a writer may be writing it
            pos = piece.end
        self.end = offset + pos
        return values

    def _skip(self, offset: int, length: int) -> None:
        self.skipped += length
        log.warning(
            "control log: skipped %d bytes at offset %d that are no whole entry (a writer "
            "that died while writing, or bytes that handrail did not write)", length, offset,
        )  # fmt: skip


def _fitting(values: Iterable[bytes]) -> list[bytes]:
    fit = []
    for value in values:
        if len(value) <= MAX_ENTRY:
            fit.append(value)
        else:
            log.error(
                "control log: an entry of %d bytes left out (at most %d)", len(value), MAX_ENTRY
            )
    return fit


def _is_old(start: bytes) -> bool:
    """A log that starts with these bytes is of the earlier format: no magic."""
    return not FRAMES.opens(start)


def _old_entries(data: bytes, values: list[bytes]) -> int:
    """The earlier format's whole entries at the start of ``data`` (into ``values``), and
    the bytes they take."""
    pos = 0
    while pos + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, pos)
        end = pos + _LENGTH.size + length
        if length > MAX_ENTRY or end > len(data):
            break
        values.append(data[pos + _LENGTH.size : end])
        pos = end
    return pos


def _old_partial(data: bytes, pos: int) -> bool:
    """The earlier format's entry at ``pos`` is cut short by the end (not a bad length)."""
    if len(data) - pos < _LENGTH.size:
        return True
    (length,) = _LENGTH.unpack_from(data, pos)
    return bool(length <= MAX_ENTRY)


def _open(path: Path) -> IO[bytes]:
    """``path`` for reading, never through a symlink."""
    return open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW))


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` at the end of ``fd`` durably; on failure cut the file back to its
    size before, so no torn frame stays (the caller holds the lock)."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            log.error("control log: cannot cut back a failed append: %s", exc)
        raise
