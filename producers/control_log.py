"""The control channel of the embedded default (no Kafka): one append-only file on this
machine in place of the control topic. Halts, resumes, approval requests and decisions,
and handoff answers are appended by any process; every agent tails it.

Each entry is a 4-byte big-endian length, then one event in the wire format (the same
bytes the control topic would carry). Writers hold an exclusive ``flock`` while they
append and flush, so entries never interleave; a reader takes only whole entries, so a
half-written tail is simply read on the next poll.

Every agent reads the log from its start, so it must not grow without bound: an append
that takes it past ``max_bytes`` rewrites it, still under the lock, with only the entries
that still count (``control_compaction``), into a new file renamed over the old one. A
writer that opened the old file finds it replaced once it holds the lock, and appends to
the new one; a reader (``Tail``) that finds a new file reads it from its start (the
entries it had read are in it again when they still count, and applying them twice
changes nothing). The log is created with the modes given (``handrail.files``: 0600 by
default), and an existing one of this user's is set to them on every append.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from handrail.files import PRIVATE, FileModes
from handrail.producers.control_compaction import compact
from handrail.settings import SpoolSettings

log = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")


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
        """Append events (encoded) durably, as one entry each."""
        data = _frames(values)
        if not data:
            return
        self.modes.parents(self.path)
        while True:
            with self.modes.open(self.path, "ab") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    if not self._is_current(f):
                        continue  # compacted meanwhile: append to the new file
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                    if self._limit is not None and f.tell() > self._limit:
                        self._limit = max(self.max_bytes or 0, 2 * self._compact())
                    return
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def _is_current(self, f: IO[bytes]) -> bool:
        try:
            return os.fstat(f.fileno()).st_ino == self.path.stat().st_ino
        except FileNotFoundError:
            return False

    def _compact(self) -> int:
        """Rewrite the log with the entries that still count (the caller holds the lock);
        the new size."""
        entries, _ = self.read()
        kept = compact(entries)
        data = _frames(kept)
        self.modes.write(self.path, data)
        log.info("control log compacted: %d of %d entries still count", len(kept), len(entries))
        if self.max_bytes is not None and len(data) > self.max_bytes // 2:
            log.warning(
                "the control log holds %d bytes that still count (pending approvals, a day "
                "of decisions and answers); it is compacted again at twice that. Raise "
                "spool.control_log_max_bytes (%d), or use Kafka", len(data), self.max_bytes,
            )  # fmt: skip
        return len(data)

    def read(self, offset: int = 0) -> tuple[list[bytes], int]:
        """The whole entries from byte ``offset`` on, and the offset after the last one."""
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        return _entries(data, offset)


class Tail:
    """A reader of the log's new entries, poll after poll, that follows the log into its
    new file when it is compacted. It keeps the file it reads open, so no other file can
    take that file's inode number while it compares it with the path's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._offset = 0
        self._end = 0
        self._open()

    def read(self) -> list[bytes]:
        """The whole entries written since the last read (a new file: from its start)."""
        if (self._file is None or self._replaced()) and not self._open():
            return []
        assert self._file is not None
        self._file.seek(self._offset)
        values, self._offset = _entries(self._file.read(), self._offset)
        return values

    def at_end(self) -> bool:
        """Everything the file held when it was opened has been read."""
        return self._file is None or self._offset >= self._end

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _open(self) -> bool:
        try:
            new = self.path.open("rb")
        except FileNotFoundError:
            return False
        self.close()
        self._file, self._offset = new, 0
        self._end = os.fstat(new.fileno()).st_size
        return True

    def _replaced(self) -> bool:
        assert self._file is not None
        try:
            return self.path.stat().st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            return False


def _frames(values: Iterable[bytes]) -> bytes:
    """Entries as the log stores them: each one's length, then its bytes."""
    return b"".join(_LENGTH.pack(len(v)) + v for v in values)


def _entries(data: bytes, offset: int) -> tuple[list[bytes], int]:
    """The whole entries of ``data`` (read at ``offset``), and the offset after them."""
    values, pos = [], 0
    while pos + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, pos)
        end = pos + _LENGTH.size + length
        if end > len(data):
            break
        values.append(data[pos + _LENGTH.size : end])
        pos = end
    return values, offset + pos
