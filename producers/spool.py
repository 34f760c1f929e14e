"""The durable spool: an on-disk FIFO of event records in Avro object container files.

Layout: ``<dir>/<start-time-ns>-<session>/seg-00000001.avro`` (+ ``.cursor``). Each
recorder session owns one directory, locked with ``flock`` while the process lives. At
start a session adopts the directories of dead sessions (their lock is free), so that
events spooled before a crash are replayed first, in their original order. An adopted
directory gets an ``adopted`` file (naming the adopter): its own session is gone for good,
so its segments are final even while the adopter holds the lock (the embedded pipeline,
``handrail.embedded``, reads spool directories and needs to know which ones still grow).

Everything is created with the modes given (``handrail.files``: private by default), and
the directories it opens again are set to them.

A segment is replayed from its cursor (how many leading records are confirmed delivered);
a crash during replay can resend at most the unconfirmed window, and consumers drop those
by event id. Not thread-safe: the shipper thread is its only user.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastavro import reader as avro_reader
from fastavro.write import Writer

from handrail.files import PRIVATE, FileModes
from handrail.producers.errors import SpoolError
from handrail.schemas import EventRecord, registry

log = logging.getLogger(__name__)

ADOPTED = "adopted"
"""Marker file in a session directory another session adopted (its writer is gone)."""


@dataclass(eq=False)
class Segment:
    """A closed segment being replayed: its records and which of them are confirmed."""

    path: Path
    records: list[EventRecord]
    confirmed: list[bool]
    cursor: int
    """Leading records confirmed (persisted in the ``.cursor`` file)."""
    sent: set[int] = field(default_factory=set)
    """Indexes handed to Kafka and not yet resolved."""

    def unsent(self, limit: int) -> list[int]:
        """Up to ``limit`` indexes neither confirmed nor in flight, in order."""
        out: list[int] = []
        for i in range(self.cursor, len(self.records)):
            if not self.confirmed[i] and i not in self.sent:
                out.append(i)
                if len(out) == limit:
                    break
        return out

    @property
    def done(self) -> bool:
        return self.cursor == len(self.records)


@dataclass
class _Session:
    dir: Path
    lock: IO[str]


def read_all(root: Path) -> Iterator[EventRecord]:
    """Every event waiting in a spool directory, oldest session and segment first (read-only)."""
    for session in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(session.glob("seg-*.avro")):
            cursor_file = path.with_suffix(".cursor")
            skip = int(cursor_file.read_text() or 0) if cursor_file.exists() else 0
            yield from _read(path)[skip:]


def _read(path: Path) -> list[EventRecord]:
    records: list[EventRecord] = []
    try:
        with path.open("rb") as handle:
            it: Any = avro_reader(
                handle, reader_schema=registry().current.parsed, return_record_name=True
            )
            records.extend(it)
    except Exception as exc:  # a crash can leave a partly written last block
        log.warning("spool segment %s ends early after %d events: %s", path, len(records), exc)
    return records


def _lock(directory: Path, modes: FileModes) -> IO[str] | None:
    handle = modes.open(directory / "lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


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
        try:
            modes.directory(root)
            own = modes.directory(root / f"{time.time_ns():020d}-{session_id}")
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory under {root}: {exc}") from exc
        lock = _lock(own, modes)
        assert lock is not None  # a directory we just made
        self._own = _Session(own, lock)
        self._adopted: list[_Session] = []
        self._closed: list[Path] = []  # closed segments, oldest first
        for other in sorted(p for p in root.iterdir() if p.is_dir() and p != own):
            handle = _lock(other, modes)
            if handle is None:
                continue  # a live session owns it
            modes.secure(other)
            with modes.open(other / ADOPTED, "w") as marker:
                marker.write(own.name)
            self._adopted.append(_Session(other, handle))
            self._closed.extend(sorted(other.glob("seg-*.avro")))
        self._next = 1
        self._tail: tuple[Writer, IO[bytes], Path] | None = None
        self._tail_count = 0
        self._head: Segment | None = None

    @property
    def directory(self) -> Path:
        return self._own.dir

    def is_empty(self) -> bool:
        """No event waits in the spool (nothing closed, nothing in the tail)."""
        return self._head is None and not self._closed and self._tail_count == 0

    def append(self, records: list[EventRecord]) -> None:
        """Append records to the tail segment and flush them to the operating system."""
        for record in records:
            if self._tail is None:
                self._open_tail()
            assert self._tail is not None
            self._tail[0].write(record)
            self._tail_count += 1
            if self._tail_count >= self._segment_max:
                self._close_tail()
        self.flush()

    def seal(self, records: list[EventRecord]) -> Segment:
        """Write ``records`` as a closed segment of their own, at the head of the replay order.

        Used for events in flight when Kafka went away: they stay in flight, and the
        returned segment tracks which of them get confirmed after all.
        """
        self._close_tail()
        path = self._segment_path()
        self._write_segment(path, records)
        segment = Segment(path, list(records), [False] * len(records), 0)
        if self._head is not None:
            self._closed.insert(0, self._head.path)
        self._head = segment
        return segment

    def head(self) -> Segment | None:
        """The oldest segment to replay, loading it (and closing the tail) when needed."""
        if self._head is not None:
            return self._head
        if not self._closed and self._tail_count:
            self._close_tail()
        if not self._closed:
            return None
        path = self._closed.pop(0)
        records = _read(path)
        cursor_file = path.with_suffix(".cursor")
        cursor = int(cursor_file.read_text() or 0) if cursor_file.exists() else 0
        cursor = min(cursor, len(records))
        self._head = Segment(path, records, [i < cursor for i in range(len(records))], cursor)
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
            cursor = segment.path.with_suffix(".cursor")
            self._modes.write(cursor, str(segment.cursor), fsync=False)  # one lost: a resend

    def reject(self, record: EventRecord, reason: str) -> None:
        """Set aside an event Kafka refused for good: ``rejected.jsonl`` keeps it and why."""
        line = json.dumps({"reason": reason, "event": record}, default=str)
        with self._modes.open(self._own.dir / "rejected.jsonl", "a") as handle:
            handle.write(line + "\n")

    def flush(self) -> None:
        if self._tail is not None:
            writer, handle, _ = self._tail
            writer.flush()
            handle.flush()
            if self._fsync:
                os.fsync(handle.fileno())

    def close(self) -> None:
        """Close the tail and release the locks; remove directories left empty."""
        self._close_tail()
        for session in [self._own, *self._adopted]:
            if (
                not any(session.dir.glob("seg-*.avro"))
                and not (session.dir / "rejected.jsonl").exists()
            ):
                shutil.rmtree(session.dir, ignore_errors=True)
            session.lock.close()

    # -- internals --------------------------------------------------------------------------

    def _segment_path(self) -> Path:
        path = self._own.dir / f"seg-{self._next:08d}.avro"
        self._next += 1
        return path

    def _open_tail(self) -> None:
        path = self._segment_path()
        handle = self._modes.open(path, "wb")
        writer = Writer(handle, registry().current.parsed, codec="null")
        self._tail = (writer, handle, path)
        self._tail_count = 0

    def _close_tail(self) -> None:
        if self._tail is None:
            return
        self.flush()
        _, handle, path = self._tail
        handle.close()
        self._tail = None
        if self._tail_count:
            self._closed.append(path)
        else:
            path.unlink(missing_ok=True)
        self._tail_count = 0

    def _write_segment(self, path: Path, records: list[EventRecord]) -> None:
        with self._modes.open(path, "wb") as handle:
            writer = Writer(handle, registry().current.parsed, codec="null")
            for record in records:
                writer.write(record)
            writer.flush()
            handle.flush()
            if self._fsync:
                os.fsync(handle.fileno())

    def _drop(self, segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
        segment.path.with_suffix(".cursor").unlink(missing_ok=True)
        if self._head is segment:
            self._head = None
        for session in list(self._adopted):
            if not any(session.dir.glob("seg-*.avro")):
                shutil.rmtree(session.dir, ignore_errors=True)
                session.lock.close()
                self._adopted.remove(session)
