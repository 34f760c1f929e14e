"""The control channel of the embedded default (no Kafka): one append-only file on this
machine in place of the control topic. Halts, resumes, approval requests and decisions,
and handoff answers are appended by any process; every agent tails it.

Each entry is a 4-byte big-endian length, then one event in the wire format (the same
bytes the control topic would carry). Writers hold an exclusive ``flock`` while they
append and flush, so entries never interleave; a reader takes only whole entries, so a
half-written tail is simply read on the next poll.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterable
from pathlib import Path

_LENGTH = struct.Struct(">I")


class ControlLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, values: Iterable[bytes]) -> None:
        """Append events (encoded) durably, as one entry each."""
        data = b"".join(_LENGTH.pack(len(v)) + v for v in values)
        if not data:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, offset: int = 0) -> tuple[list[bytes], int]:
        """The whole entries from byte ``offset`` on, and the offset after the last one."""
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        values, pos = [], 0
        while pos + _LENGTH.size <= len(data):
            (length,) = _LENGTH.unpack_from(data, pos)
            end = pos + _LENGTH.size + length
            if end > len(data):
                break
            values.append(data[pos + _LENGTH.size : end])
            pos = end
        return values, offset + pos
