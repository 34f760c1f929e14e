"""The segment a writer appends to, and whole segment files written at once (I/O).

Written with ``os.pwrite`` at known offsets only (nothing buffered): a write that fails is
cut back to the last whole block, so the next one is never written after a torn one.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from handrail.files import FileModes
from handrail.producers.spool.blocks import pwrite_all


@dataclass(eq=False)
class Tail:
    """The segment being appended to."""

    path: Path
    file: IO[bytes]
    size: int
    """Bytes of whole blocks (the header included)."""
    count: int = 0
    orphan: bool = False
    """Its file was unlinked (the directory removed) and is not yet written again."""

    @classmethod
    def create(cls, path: Path, data: bytes, modes: FileModes) -> Tail:
        """A new tail at ``path`` holding ``data`` (a header, or the blocks of a removed
        tail, then ``orphan`` is left to the caller); nothing is left on failure."""
        handle = modes.open(path, "w+b")
        try:
            pwrite_all(handle.fileno(), data, 0)
        except OSError:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        return cls(path, handle, len(data))

    def append(self, data: bytes, fsync: bool) -> None:
        """Write whole blocks at the end; on failure, cut the file back to them. Marks the
        tail ``orphan`` when its file turns out removed (its bytes stay readable here)."""
        fd = self.file.fileno()
        try:
            pwrite_all(fd, data, self.size)
            if fsync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # else the next block is written over it
                os.ftruncate(fd, self.size)
            raise
        self.size += len(data)
        if os.fstat(fd).st_nlink == 0:  # the file was removed, with its directory maybe
            self.orphan = True

    def contents(self) -> bytes:
        """Its whole blocks, header included (readable even once the file was removed)."""
        return os.pread(self.file.fileno(), self.size, 0)


def write_file(path: Path, data: bytes, modes: FileModes, fsync: bool) -> None:
    """A whole segment file written at once; nothing is left on failure."""
    try:
        with modes.open(path, "wb") as handle:
            pwrite_all(handle.fileno(), data, 0)
            if fsync:
                os.fsync(handle.fileno())
    except OSError:
        path.unlink(missing_ok=True)
        raise
