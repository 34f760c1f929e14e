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

import contextlib
import json
import logging
import os
import reprlib
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import fastavro
from fastavro import reader as avro_reader

from handrail.files import PRIVATE, FileModes, try_lock
from handrail.producers.errors import SpoolError
from handrail.schemas import EventRecord, encode, registry
from handrail.schemas.compiled_writer import avro_long
from handrail.schemas.wire import HEADER_SIZE

log = logging.getLogger(__name__)

ADOPTED = "adopted"
"""Marker file in a session directory another session adopted (its writer is gone)."""
REJECTED = "rejected.jsonl"
"""Events set aside for good (Kafka refused them, or they cannot be encoded) and why."""
_REASON_MAX = 500


class SpoolWriteError(SpoolError):
    """Writing to the spool failed (disk full, read-only, removed): the first ``done`` of
    the records given were dealt with (written or set aside) before it; none after."""

    def __init__(self, cause: OSError, done: int) -> None:
        super().__init__(f"cannot write the spool: {cause}")
        self.done = done


def _body(record: EventRecord) -> bytes:
    """The record's Avro body in the current schema; raises when it cannot be encoded."""
    return encode(record)[HEADER_SIZE:]


def _reason(exc: BaseException) -> str:
    return f"cannot be encoded: {type(exc).__name__}: {exc}"[:_REASON_MAX]


def rejected_line(record: Any, reason: str) -> str:
    """One line of ``rejected.jsonl``; a record JSON cannot carry (nested too deep, say)
    is kept as a bounded repr instead."""
    try:
        return json.dumps({"reason": reason, "event": record}, default=str)
    except (ValueError, TypeError, RecursionError):
        return json.dumps({"reason": reason, "event_repr": reprlib.repr(record)})


@dataclass(eq=False)
class _Tail:
    """The segment being appended to: written with ``os.pwrite`` only (nothing buffered)."""

    path: Path
    file: IO[bytes]
    size: int
    """Bytes of whole blocks (the header included)."""
    count: int = 0
    orphan: bool = False
    """Its file was unlinked (the directory removed) and is not yet written again."""


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
    lock: IO[str] | None
    """None until the directory could be made (the spool was unusable at start)."""


def _mode(path: Path) -> os.stat_result | None:
    """``lstat``, or None for a path gone since it was listed."""
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _sessions(root: Path) -> list[Path]:
    """The session directories under ``root`` that are this user's own (not symlinks)."""
    uid = os.geteuid()
    return sorted(
        p for p in root.iterdir()
        if (st := _mode(p)) and stat.S_ISDIR(st.st_mode) and st.st_uid == uid
    )  # fmt: skip


def _segments(session: Path) -> list[Path]:
    """A session's segment files, regular files only (a symlink is never read)."""
    return sorted(
        p for p in session.glob("seg-*.avro") if (st := _mode(p)) and stat.S_ISREG(st.st_mode)
    )


def read_all(root: Path) -> Iterator[EventRecord]:
    """Every event waiting in a spool directory, oldest session and segment first (read-only)."""
    for session in _sessions(root):
        for path in _segments(session):
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
    if not try_lock(handle):
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
        own = root / f"{time.time_ns():020d}-{session_id}"
        self._own = _Session(own, None)
        self._adopted: list[_Session] = []
        self._closed: list[Path] = []  # closed segments, oldest first
        try:
            self._ensure_own()
            for other in (p for p in _sessions(root) if p != own):
                handle = _lock(other, modes)
                if handle is None:
                    continue  # a live session owns it
                self._adopted.append(_Session(other, handle))
                modes.secure(other)
                with modes.open(other / ADOPTED, "w") as marker:
                    marker.write(own.name)
                self._closed.extend(_segments(other))
        except OSError as exc:  # the writes will say so again, and keep events in memory
            log.warning("spool: cannot use %s now: %s", root, exc)
        self._next = 1
        self._sync = os.urandom(16)
        header = BytesIO()
        fastavro.writer(header, registry().current.parsed, [], codec="null",
                        sync_marker=self._sync)  # fmt: skip
        self._header = header.getvalue()
        self._tail: _Tail | None = None
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
                    bodies.append(_body(record))
                except Exception as exc:  # hostile values: surrogates, huge ints, ...
                    done += self._commit(bodies)
                    bodies = []
                    self.reject(record, _reason(exc))
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
                    bodies.append(_body(record))
                except Exception as exc:
                    self.reject(record, _reason(exc))
                    continue
                kept.append(record)
            path = self._segment_path()
            self._write_segment(path, self._header + self._block(bodies))
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
            path = self._closed.pop(0)
            records = _read(path)
            cursor_file = path.with_suffix(".cursor")
            try:
                cursor = int(cursor_file.read_text() or 0) if cursor_file.exists() else 0
            except (OSError, ValueError):
                cursor = 0  # replayed again: consumers drop what they have by event id
            cursor = min(cursor, len(records))
            confirmed = [i < cursor for i in range(len(records))]
            self._head = Segment(path, records, confirmed, cursor)
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
        for session in [self._own, *self._adopted]:
            if not any(session.dir.glob("seg-*.avro")) and not (session.dir / REJECTED).exists():
                shutil.rmtree(session.dir, ignore_errors=True)
            if session.lock is not None:
                session.lock.close()

    # -- internals --------------------------------------------------------------------------

    def _segment_path(self) -> Path:
        path = self._own.dir / f"seg-{self._next:08d}.avro"
        self._next += 1
        return path

    def _block(self, bodies: list[bytes]) -> bytes:
        data = b"".join(bodies)
        return b"".join((avro_long(len(bodies)), avro_long(len(data)), data, self._sync))

    def _commit(self, bodies: list[bytes]) -> int:
        """Write ``bodies`` as one block of the tail (closing it when full); how many."""
        if not bodies:
            return 0
        tail = self._tail or self._open_tail()
        self._write(tail, self._block(bodies))
        tail.count += len(bodies)
        if tail.count >= self._segment_max:
            self._close_tail()
        return len(bodies)

    def _write(self, tail: _Tail, data: bytes) -> None:
        """Write one whole block at the tail's end; on failure, cut the file back to it."""
        fd = tail.file.fileno()
        try:
            _pwrite_all(fd, data, tail.size)
            if self._fsync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # else the next block is written over it
                os.ftruncate(fd, tail.size)
            raise
        tail.size += len(data)
        if os.fstat(fd).st_nlink == 0:  # the file was removed, with its directory maybe
            tail.orphan = True
            try:
                self._rehome(tail)
            except OSError:
                tail.size -= len(data)  # not counted: the caller keeps it and tries again
                raise

    def _rehome(self, tail: _Tail) -> None:
        """Write the whole blocks of a removed tail again, under a recreated directory."""
        data = os.pread(tail.file.fileno(), tail.size, 0)
        self._ensure_own()
        path = self._segment_path()
        handle = self._modes.open(path, "w+b")
        try:
            _pwrite_all(handle.fileno(), data, 0)
            if self._fsync:
                os.fsync(handle.fileno())
        except OSError:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        log.warning("spool: %s was removed; its %d events are written again as %s",
                    tail.path, tail.count, path)  # fmt: skip
        tail.file.close()
        tail.path, tail.file, tail.orphan = path, handle, False

    def _ensure_own(self) -> None:
        """Make (and lock) the session directory: at start, when it could not be made
        then, and again when it was removed."""
        own = self._own
        if own.lock is not None and own.dir.is_dir():
            return
        again = own.lock is not None
        self._modes.directory(own.dir.parent)  # the spool's root
        self._modes.directory(own.dir)
        lock = _lock(own.dir, self._modes)
        if lock is not None:
            if own.lock is not None:
                own.lock.close()
            own.lock = lock
        if again:
            log.warning("spool: %s was removed; made again", own.dir)

    def _open_tail(self) -> _Tail:
        self._ensure_own()
        path = self._segment_path()
        handle = self._modes.open(path, "w+b")
        try:
            _pwrite_all(handle.fileno(), self._header, 0)
        except OSError:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        self._tail = _Tail(path, handle, len(self._header))
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

    def _write_segment(self, path: Path, data: bytes) -> None:
        self._ensure_own()
        try:
            with self._modes.open(path, "wb") as handle:
                _pwrite_all(handle.fileno(), data, 0)
                if self._fsync:
                    os.fsync(handle.fileno())
        except OSError:
            path.unlink(missing_ok=True)
            raise

    def _drop(self, segment: Segment) -> None:
        try:
            segment.path.unlink(missing_ok=True)
            segment.path.with_suffix(".cursor").unlink(missing_ok=True)
        except OSError as exc:  # a read-only directory: replayed again by a later session
            log.warning("spool: %s is replayed but cannot be removed: %s", segment.path, exc)
        if self._head is segment:
            self._head = None
        for session in list(self._adopted):
            if not any(session.dir.glob("seg-*.avro")):
                shutil.rmtree(session.dir, ignore_errors=True)
                if session.lock is not None:
                    session.lock.close()
                self._adopted.remove(session)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
