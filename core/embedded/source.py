"""One spool session directory read as a source of the embedded pipeline (I/O).

A ``Source`` reads its segments in order, whole Avro blocks only (``segments``), from the
position after ``start`` (the least of what the ledger and the detectors already have).
Reading a segment is *finished* once it can no longer grow: a later segment exists (the
writer moved on) or the session is gone (its ``flock`` is free, or it was adopted); both
are checked *before* the last read, so no block written in between is missed. Bytes of a
finished segment that form no whole block (a writer killed mid-block) come out as one
quarantine item at index ``REST``.

Once the session is gone the source keeps its lock, so no recorder adopts the directory
while the pipeline consumes it. A finished segment may be deleted once the ledger and the
detectors both have its last record (``delete``); a directory left with no segment is
removed. The newest segment of a live session is never deleted.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from handrail.embedded.errors import CorruptSegmentError
from handrail.embedded.positions import (
    REST,
    covered,
    next_position,
    position,
    segment_number,
    session_of,
    source_topic,
)
from handrail.embedded.segments import Frame, Header, decode, frames, parse_header
from handrail.files import PRIVATE, FileModes
from handrail.producers.spool import ADOPTED
from handrail.schemas import EventRecord

log = logging.getLogger(__name__)

YOUNG_S = 5.0
"""A directory younger than this is never probed for liveness: its recorder may be between
``mkdir`` and taking its lock."""


@dataclass(slots=True)
class Item:
    """What reading produced at one offset: a record, or bytes that decode to none."""

    offset: int
    record: EventRecord | None
    schema_version: int = 0
    raw: bytes = b""
    error: str = ""


@dataclass(slots=True)
class Read:
    items: list[Item] = field(default_factory=list)
    drained: bool = True
    """Nothing whole is left to read (as of this poll)."""


@dataclass(slots=True)
class _Cursor:
    segment: int
    path: Path
    skip_below: int
    """The first offset to hand out (earlier ones are done)."""
    byte: int = 0
    index: int = 0
    header: Header | None = None
    last: int | None = None
    """The offset of the last item of this segment handed out."""


def session_age(name: str, now_ns: int) -> float:
    """Seconds since a session directory ``<start-ns>-<session>`` was made (inf if unknown)."""
    head = name.split("-", 1)[0]
    return (now_ns - int(head)) / 1e9 if head.isdigit() else float("inf")


class Source:
    def __init__(self, directory: Path, start: int | None, modes: FileModes = PRIVATE) -> None:
        self.dir = directory
        self._modes = modes
        """For the lock file, if the session has none yet."""
        self.topic = source_topic(session_of(directory.name) or directory.name)
        segment, index = next_position(start)
        self._next = (segment, index)
        self._cursor: _Cursor | None = None
        self._lock: IO[str] | None = None
        self._finished: list[tuple[Path, int | None]] = []
        self.exhausted = False
        """The session is gone and every segment was read to its end."""

    # -- liveness -------------------------------------------------------------------------

    def gone(self) -> bool:
        """Will this session never write again? Takes its lock when it is free."""
        if self._lock is not None or (self.dir / ADOPTED).exists():
            return True
        if session_age(self.dir.name, time.time_ns()) < YOUNG_S:
            return False
        try:
            handle = self._modes.open(self.dir / "lock", "a")
        except FileNotFoundError:  # the directory went away
            return True
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock = handle
        return True

    # -- reading --------------------------------------------------------------------------

    def _segments(self) -> list[tuple[int, Path]]:
        try:
            entries = list(self.dir.iterdir())
        except FileNotFoundError:
            return []
        found = ((segment_number(p.name), p) for p in entries)
        return sorted((n, p) for n, p in found if n is not None)

    def poll(self, limit: int) -> Read:
        """Up to about ``limit`` new items (whole blocks), in offset order."""
        read = Read()
        while len(read.items) < limit:
            gone = self.gone()  # before listing and reading: see the module docstring
            pending = [(n, p) for n, p in self._segments() if n >= self._next[0]]
            if not pending:
                self.exhausted = gone
                return read
            number, path = pending[0]
            cursor = self._cursor
            if cursor is None or cursor.segment != number:
                first = position(*self._next) if number == self._next[0] else position(number, 0)
                cursor = self._cursor = _Cursor(number, path, first)
            if self._read(cursor, read.items, limit - len(read.items)):
                break  # the limit, not the end of what is written
            if not (gone or len(pending) > 1):
                return read  # the newest segment of a live session: more will come
            self._finish(cursor, read.items)
        read.drained = False
        return read

    def _read(self, cursor: _Cursor, out: list[Item], limit: int) -> bool:
        """Read whole blocks into ``out``; True when it stopped at ``limit``."""
        try:
            if cursor.header is not None and cursor.path.stat().st_size <= cursor.byte:
                return False  # nothing new (the usual case of an idle agent)
            with cursor.path.open("rb") as handle:
                handle.seek(cursor.byte)
                data = handle.read()
        except FileNotFoundError:
            log.warning("spool segment %s vanished before it was read to its end", cursor.path)
            return False
        if cursor.header is None:
            try:
                cursor.header = parse_header(data)
            except CorruptSegmentError:
                return False  # quarantined once the segment is finished
            if cursor.header is None:
                return False
            data, cursor.byte = data[cursor.header.size :], cursor.header.size
        blocks, _ = frames(data, 0, cursor.header.sync, limit)  # corrupt: quarantined at finish
        for block in blocks:
            self._take(cursor, data, block, out)
        return sum(b.count for b in blocks) >= limit

    def _take(self, cursor: _Cursor, data: bytes, block: Frame, out: list[Item]) -> None:
        first = cursor.index
        cursor.index += block.count
        cursor.byte += block.end - block.start
        offsets = [position(cursor.segment, first + i) for i in range(block.count)]
        wanted = [o for o in offsets if o >= cursor.skip_below]
        if not wanted:
            return
        assert cursor.header is not None
        try:
            records = decode(cursor.header, data, block)
        except Exception as exc:  # a whole block that does not decode: keep its bytes
            raw = data[block.start : block.end]
            out.append(Item(offsets[-1], None, raw=raw, error=f"{type(exc).__name__}: {exc}"))
            cursor.last = offsets[-1]
            return
        skip = len(offsets) - len(wanted)
        version = cursor.header.schema_version
        out.extend(Item(o, r, version) for o, r in zip(wanted, records[skip:], strict=True))
        cursor.last = wanted[-1]

    def _finish(self, cursor: _Cursor, out: list[Item]) -> None:
        """The segment can no longer grow and everything whole was read: quarantine the
        rest, note the segment for deletion, go on with the next one."""
        try:
            rest = cursor.path.read_bytes()[cursor.byte :]
        except FileNotFoundError:
            rest = b""
        tail = position(cursor.segment, REST)
        if rest and tail >= cursor.skip_below:
            what = "a torn or corrupt tail" if cursor.header else "not an Avro container"
            log.warning("spool segment %s: %d bytes (%s) quarantined", cursor.path, len(rest), what)
            out.append(Item(tail, None, raw=rest, error=f"CorruptSegmentError: {what}"))
            cursor.last = tail
        self._finished.append((cursor.path, cursor.last))
        self._next = (cursor.segment + 1, 0)
        self._cursor = None

    # -- deleting -------------------------------------------------------------------------

    def delete(self, ingested: int | None, detected: int | None) -> int:
        """Delete the finished segments whose last item both the ledger (``ingested``) and
        the detectors (``detected``) have; remove the directory once nothing is left.
        Returns how many segments were deleted."""
        keep, deleted = [], 0
        for path, last in self._finished:
            if covered(last, ingested, detected):
                path.unlink(missing_ok=True)
                path.with_suffix(".cursor").unlink(missing_ok=True)
                deleted += 1
            else:
                keep.append((path, last))
        self._finished = keep
        if self.exhausted and not keep and not self._segments():
            self._remove()
        return deleted

    @property
    def removed(self) -> bool:
        return not self.dir.exists()

    def _remove(self) -> None:
        leftovers = [p.name for p in self.dir.iterdir() if p.name not in ("lock", ADOPTED)]
        if leftovers:  # e.g. rejected.jsonl: keep it for people to see
            log.info("spool directory %s kept for %s", self.dir, ", ".join(leftovers))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
