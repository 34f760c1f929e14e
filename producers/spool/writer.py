"""The spool's writer: one recorder session's on-disk FIFO of event records, in Avro
object container files (names and directories: ``layout``).

Each recorder session owns one directory, locked while the process lives (``session``).
At start a session adopts the directories of dead sessions, so that events spooled before
a crash are replayed first, in their original order. Everything is created with the modes
given (``handrail.files``: private by default), and the directories it opens again are set
to them.

A segment is replayed from its cursor (how many leading records are confirmed delivered);
a crash during replay can resend at most the unconfirmed window, and consumers drop those
by event id. Not thread-safe: the shipper thread is its only user.

Writes are whole Avro blocks at known offsets: each ``append`` encodes its records (the
compiled writer, ``schemas.wire.encode``), and one that cannot be encoded goes to
``rejected.jsonl`` with the reason while the others are written. A write that fails (disk
full, read-only) is cut back to the last whole block and raises ``SpoolWriteError``
saying how many records were dealt with first, so the caller keeps the rest and tries
again. A session directory removed while the tail is open is made again and the tail's
whole blocks are written there again (the removed file's bytes are still readable through
the open descriptor), so nothing already counted as spooled is lost with it. A spool that
cannot be used at start is not an error either: the first write tries again.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handrail.files import PRIVATE, FileModes
from handrail.producers.spool.blocks import (
    blocks,
    body,
    header,
    rejected_line,
    unencodable,
)
from handrail.producers.spool.errors import SpoolWriteError
from handrail.producers.spool.layout import (
    REJECTED,
    cursor_path,
    segment_name,
    segments,
    session_dir_name,
)
from handrail.producers.spool.reader import Segment, load
from handrail.producers.spool.session import Session, adopt_dead, holds_nothing, make_own
from handrail.producers.spool.tail import Tail, write_file
from handrail.schemas import EventRecord

log = logging.getLogger(__name__)


class Spool:
    """One session's spool plus the orphans it adopted."""

    def __init__(
        self,
        root: Path,
        session_id: str,
        *,
        fsync: bool,
        segment_max_events: int,
        modes: FileModes = PRIVATE,
    ):
        self._fsync = fsync
        self._segment_max = segment_max_events
        self._modes = modes
        own = root / session_dir_name(time.time_ns(), session_id)
        self._own = Session(own, None)
        self._adopted: list[Session] = []
        self._closed: list[Path] = []  # closed segments, oldest first
        try:
            self._ensure_own()
            self._adopted = adopt_dead(root, own, modes)
            for other in self._adopted:
                self._closed.extend(segments(other.dir))
        except OSError as exc:  # the writes will say so again, and keep events in memory
            log.warning("spool: cannot use %s now: %s", root, exc)
        self._next = 1
        self._sync = os.urandom(16)
        self._header = header(self._sync)
        self._tail: Tail | None = None
        self._head: Segment | None = None

    @property
    def directory(self) -> Path:
        return self._own.dir

    def is_empty(self) -> bool:
        """No event waits in the spool (nothing closed, nothing in the tail)."""
        return self._head is None and not self._closed and not self._tail_count

    @property
    def _tail_count(self) -> int:
        return 0 if self._tail is None else self._tail.count

    def append(self, records: Sequence[EventRecord]) -> int:
        """Append records to the tail segment, written to the operating system (and
        fsync'd when asked) before it returns. A record that cannot be encoded goes to
        ``rejected.jsonl``; returns how many did. Raises ``SpoolWriteError`` (see there)."""
        done = rejected = 0
        bodies: list[bytes] = []
        try:
            if self._tail is not None and self._tail.orphan:
                self._rehome(self._tail)
            for record in records:
                try:
                    bodies.append(body(record))
                except Exception as exc:  # hostile values: surrogates, huge ints, ...
                    done += self._commit(bodies)
                    bodies = []
                    self.reject(record, unencodable(exc))
                    done += 1
                    rejected += 1
                    continue
                if len(bodies) >= self._segment_max - self._tail_count:
                    done += self._commit(bodies)
                    bodies = []
            done += self._commit(bodies)
        except OSError as exc:
            raise SpoolWriteError(exc, done) from exc
        return rejected

    def seal(self, records: Sequence[EventRecord]) -> Segment:
        """Write ``records`` as a closed segment of their own, at the head of the replay order.

        Used for events in flight when Kafka went away: they stay in flight, and the
        returned segment tracks which of them get confirmed after all. A record that cannot
        be encoded goes to ``rejected.jsonl`` and is not in the segment. Raises
        ``SpoolWriteError`` (``done`` 0: no segment was written).
        """
        kept: list[EventRecord] = []
        bodies: list[bytes] = []
        try:
            self._close_tail()
            for record in records:
                try:
                    bodies.append(body(record))
                except Exception as exc:
                    self.reject(record, unencodable(exc))
                    continue
                kept.append(record)
            path = self._segment_path()
            self._ensure_own()
            write_file(path, self._header + blocks(bodies, self._sync), self._modes, self._fsync)
        except OSError as exc:
            raise SpoolWriteError(exc, 0) from exc
        segment = Segment(path, kept, [False] * len(kept), 0)
        if self._head is not None:
            self._closed.insert(0, self._head.path)
        self._head = segment
        return segment

    def head(self) -> Segment | None:
        """The oldest segment to replay, loading it (and closing the tail) when needed; a
        segment with nothing left to replay (all confirmed, or its file gone) is dropped."""
        while self._head is None or self._head.done:
            if self._head is not None:
                self._drop(self._head)
            if not self._closed and self._tail_count:
                self._close_tail()
            if not self._closed:
                return None
            self._head = load(self._closed.pop(0))
        return self._head

    def confirm(self, segment: Segment, index: int) -> None:
        """Mark one record delivered; advance and persist the cursor; drop finished segments."""
        segment.confirmed[index] = True
        segment.sent.discard(index)
        before = segment.cursor
        while segment.cursor < len(segment.records) and segment.confirmed[segment.cursor]:
            segment.cursor += 1
        if segment.done:
            self._drop(segment)
        elif segment.cursor != before:
            cursor = cursor_path(segment.path)
            try:
                self._modes.write(cursor, str(segment.cursor), fsync=False)
            except OSError as exc:  # one lost: a resend of what it confirmed
                log.warning("spool cursor %s not saved: %s", cursor, exc)

    def reject(self, record: Any, reason: str) -> None:
        """Set aside an event for good (Kafka refused it, or it cannot be encoded):
        ``rejected.jsonl`` keeps it and why. Raises ``OSError`` when it cannot be written."""
        line = rejected_line(record, reason)
        self._ensure_own()
        with self._modes.open(self._own.dir / REJECTED, "a") as handle:
            handle.write(line + "\n")

    def flush(self) -> None:
        """Make the tail durable (``fsync``); every append already wrote it to the OS."""
        if self._tail is not None:
            os.fsync(self._tail.file.fileno())

    def close(self) -> None:
        """Close the tail and release the locks; remove directories left empty."""
        try:
            self._close_tail()
        except OSError as exc:
            log.error("spool: the tail segment could not be written again: %s", exc)
        for other in [self._own, *self._adopted]:
            if holds_nothing(other.dir):
                shutil.rmtree(other.dir, ignore_errors=True)
            if other.lock is not None:
                other.lock.close()

    # -- internals --------------------------------------------------------------------------

    def _segment_path(self) -> Path:
        path = self._own.dir / segment_name(self._next)
        self._next += 1
        return path

    def _commit(self, bodies: list[bytes]) -> int:
        """Write ``bodies`` as whole blocks of the tail (closing it when full); how many."""
        if not bodies:
            return 0
        tail = self._tail or self._open_tail()
        self._write(tail, blocks(bodies, self._sync))
        tail.count += len(bodies)
        if tail.count >= self._segment_max:
            self._close_tail()
        return len(bodies)

    def _write(self, tail: Tail, data: bytes) -> None:
        """Write whole blocks at the tail's end; a removed tail is written again."""
        tail.append(data, self._fsync)
        if tail.orphan:
            try:
                self._rehome(tail)
            except OSError:
                tail.size -= len(data)  # not counted: the caller keeps it and tries again
                raise

    def _rehome(self, tail: Tail) -> None:
        """Write the whole blocks of a removed tail again, under a recreated directory."""
        data = tail.contents()
        self._ensure_own()
        path = self._segment_path()
        moved = Tail.create(path, data, self._modes)
        if self._fsync:
            try:
                os.fsync(moved.file.fileno())
            except OSError:
                moved.file.close()
                path.unlink(missing_ok=True)
                raise
        log.warning("spool: %s was removed; its %d events are written again as %s",
                    tail.path, tail.count, path)  # fmt: skip
        tail.file.close()
        tail.path, tail.file, tail.orphan = path, moved.file, False

    def _ensure_own(self) -> None:
        """Make (and lock) the session directory: at start, when it could not be made
        then, and again when it was removed."""
        own = self._own
        if own.lock is not None and own.dir.is_dir():
            return
        again = own.lock is not None
        lock = make_own(own.dir, self._modes)
        if own.lock is not None:
            own.lock.close()
        own.lock = lock
        if again:
            log.warning("spool: %s was removed; made again", own.dir)

    def _open_tail(self) -> Tail:
        self._ensure_own()
        self._tail = Tail.create(self._segment_path(), self._header, self._modes)
        return self._tail

    def _close_tail(self) -> None:
        """Close the tail: a segment to replay when it holds events. A removed one is written
        again first (raises ``OSError`` when it cannot be: it stays the tail)."""
        tail = self._tail
        if tail is None:
            return
        if tail.orphan:
            self._rehome(tail)
        tail.file.close()
        self._tail = None
        if tail.count:
            self._closed.append(tail.path)
        else:
            tail.path.unlink(missing_ok=True)

    def _drop(self, segment: Segment) -> None:
        try:
            segment.path.unlink(missing_ok=True)
            cursor_path(segment.path).unlink(missing_ok=True)
        except OSError as exc:  # a read-only directory: replayed again by a later session
            log.warning("spool: %s is replayed but cannot be removed: %s", segment.path, exc)
        if self._head is segment:
            self._head = None
        for other in list(self._adopted):
            if not segments(other.dir):
                shutil.rmtree(other.dir, ignore_errors=True)
                if other.lock is not None:
                    other.lock.close()
                self._adopted.remove(other)
