"""One spool session directory read as a source of the embedded pipeline (I/O).

A ``Source`` reads its segments in order, whole Avro blocks only (``cursor``), from the
position after ``start`` (the least of what the ledger and the detectors already have).
Reading a segment is *finished* once it can no longer grow: a later segment exists (the
writer moved on) or the session is gone (its ``flock`` is free, at any age: ``layout``,
or it was adopted); both
are checked *before* the last read, so no block written in between is missed. Bytes of a
finished segment that form no whole block (a writer killed mid-block, a sync marker out
of place, a block past ``max_block``, an unknown writer schema) come out as one quarantine
item at index ``REST``, with the reason.

Everything in the directory is hostile until read. A segment is opened without following
a symlink (``O_NOFOLLOW``) and read only when it is a regular file this user owns, a bounded
chunk at a time. Files that look like segments but may not be read as one (*strays*: a name
off the layout, a number out of range, a symlink, a directory) are quarantined with their
reason when a segment is finished (from index ``STRAY`` of that segment), or, once the
session is gone with no segment left to read, at the next segment number; a stray's bytes
are kept only when it is a regular file of ours, and never more than ``RAW_MAX`` of any
item. A stray is deleted once both positions cover it, as a segment is. A session
directory that is itself a symlink or another user's is one stray: nothing in it is read.

Once the session is gone the source keeps its lock, so no recorder adopts the directory
while the pipeline consumes it. A finished segment may be deleted once the ledger and the
detectors both have its last record (``delete``); a directory left with no segment is
removed. The newest segment of a live session is never deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from handrail.files import PRIVATE, FileModes
from handrail.producers.spool.access import (
    open_segment,
    refused_directory,
    take_lock,
    why_not,
)
from handrail.producers.spool.cursor import RAW_MAX, Item, SegmentCursor, bounded
from handrail.producers.spool.errors import UnreadableSegmentError
from handrail.producers.spool.layout import (
    ADOPTED,
    LOCK,
    cursor_path,
    looks_like_segment,
    numbered_like_a_segment,
    segment_number,
    session_of,
)
from handrail.producers.spool.positions import (
    MAX_SEGMENT,
    REST,
    STRAY,
    covered,
    next_position,
    position,
    source_topic,
    split,
)
from handrail.producers.spool.segments import MAX_BLOCK

log = logging.getLogger(__name__)

STRAYS_PER_FINISH = 100
"""Strays quarantined at one finish at most (the rest at the next): memory stays bounded."""


@dataclass(slots=True)
class Read:
    items: list[Item] = field(default_factory=list)
    drained: bool = True
    """Nothing whole is left to read (as of this poll)."""


def stray(path: Path) -> tuple[bytes, str]:
    """A stray's bytes to keep (none unless it is a regular file of ours) and why it may
    not be read as a segment."""
    name = repr(path.name[:80])
    if segment_number(path.name) is not None:
        why = f"{name} is not a regular file"
    elif numbered_like_a_segment(path.name):
        why = f"{name}: a segment number out of range or not written as the spool writes it"
    else:
        why = f"{name}: a name off the spool's layout"
    try:
        with open_segment(path) as handle:
            total = os.fstat(handle.fileno()).st_size
            raw, note = bounded(handle.read(RAW_MAX), total)
    except (OSError, UnreadableSegmentError) as exc:
        return b"", f"{name}: {why_not(exc)}"
    return raw, f"{why}, {total} bytes{note}"


class Source:
    def __init__(
        self,
        directory: Path,
        start: int | None,
        modes: FileModes = PRIVATE,
        max_block: int = MAX_BLOCK,
    ) -> None:
        self.dir = directory
        self._modes = modes
        """For the lock file, if the session has none yet."""
        self._max_block = max_block
        self.topic = source_topic(session_of(directory.name) or directory.name)
        segment, index = next_position(start)
        self._next = (segment, index)
        self._cursor: SegmentCursor | None = None
        self._lock: IO[str] | None = None
        self._finished: list[tuple[Path, int | None, bool]] = []
        """Finished segments (True) and quarantined strays (False) and their last offsets."""
        self._strayed: set[str] = set()
        """Strays quarantined and not yet deleted: never quarantined twice by this process."""
        self._refusal = refused_directory(directory)
        """Why nothing in the directory may be read ("" when it may)."""
        self._lock_refused = False
        self.exhausted = False
        """The session is gone and every segment was read to its end."""

    # -- liveness -------------------------------------------------------------------------

    def gone(self) -> bool:
        """Will this session never write again? Its lock is free (its writer takes it
        before the directory gets its name: ``layout``) or it was adopted. Takes the lock
        when it is free, and keeps it."""
        if self._refusal or self._lock is not None or (self.dir / ADOPTED).exists():
            return True
        try:
            handle = take_lock(self.dir, self._modes)
        except FileNotFoundError:  # the directory went away
            return True
        except (OSError, UnreadableSegmentError) as exc:  # planted: maybe live, never gone
            if not self._lock_refused:
                log.warning("spool session %s: its lock is refused (%s)", self.dir, why_not(exc))
                self._lock_refused = True
            return False
        if handle is None:
            return False
        self._lock = handle
        return True

    # -- reading --------------------------------------------------------------------------

    def _listing(self) -> tuple[list[tuple[int, Path]], list[Path]]:
        """The segments to read (number order) and the strays not yet quarantined."""
        if self._refusal:
            return [], [] if self.dir.name in self._strayed else [self.dir]
        try:
            entries = list(os.scandir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return [], []
        except OSError as exc:  # e.g. a directory of ours made unreadable: it waits
            log.warning("spool session %s cannot be listed: %s", self.dir, exc)
            return [], []
        segments, strays = [], []
        for entry in entries:
            number = segment_number(entry.name)
            if number is not None and entry.is_file(follow_symlinks=False):
                segments.append((number, Path(entry.path)))
            elif (number is not None or looks_like_segment(entry.name)) and (
                entry.name not in self._strayed
            ):
                strays.append(Path(entry.path))
        return sorted(segments), sorted(strays)

    def poll(self, limit: int) -> Read:
        """Up to about ``limit`` new items (whole blocks), in offset order."""
        read = Read()
        while len(read.items) < limit:
            gone = self.gone()  # before listing and reading: see the module docstring
            segments, strays = self._listing()
            pending = [(n, p) for n, p in segments if n >= self._next[0]]
            if not pending:
                if gone and strays and self._next[0] <= MAX_SEGMENT:
                    self._quarantine(strays, position(*self._next), read.items)
                    self._next = (self._next[0] + 1, 0)
                    continue
                self.exhausted = gone
                return read
            number, path = pending[0]
            cursor = self._cursor
            if cursor is None or cursor.segment != number:
                first = position(*self._next) if number == self._next[0] else position(number, 0)
                cursor = self._cursor = SegmentCursor(number, path, first, self._max_block)
            if cursor.read(read.items, limit - len(read.items)):
                break  # the limit, not the end of what is written
            if not (gone or len(pending) > 1):
                return read  # the newest segment of a live session: more will come
            self._finish(cursor, strays, read.items)
        read.drained = False
        return read

    def _finish(self, cursor: SegmentCursor, strays: list[Path], out: list[Item]) -> None:
        """The segment can no longer grow and everything whole was read: quarantine the
        strays and the rest, note the segment for deletion, go on with the next one."""
        self._quarantine(strays, cursor.skip_below, out, cursor.segment)
        tail = position(cursor.segment, REST)
        if tail >= cursor.skip_below:
            item = cursor.rest()
            if item is not None:
                log.warning("spool segment %s quarantined from byte %d: %s",
                            cursor.path, cursor.byte, item.error)  # fmt: skip
                out.append(item)
                cursor.last = tail
        self._finished.append((cursor.path, cursor.last, True))
        self._next = (cursor.segment + 1, 0)
        self._cursor = None

    def _quarantine(
        self, strays: list[Path], skip_below: int, out: list[Item], segment: int | None = None
    ) -> None:
        """One quarantine item per stray (at most ``STRAYS_PER_FINISH``), from index
        ``STRAY`` of ``segment`` (``skip_below``'s by default); those below ``skip_below``
        are in the ledger already (a crash before their deletion): only deleted."""
        number = split(skip_below)[0] if segment is None else segment
        for j, path in enumerate(strays[:STRAYS_PER_FINISH]):
            offset = position(number, STRAY + j)
            self._strayed.add(path.name)
            self._finished.append((path, offset, False))
            if offset < skip_below:
                continue
            if path == self.dir:
                raw, why = b"", f"the session directory: {self._refusal}"
            else:
                raw, why = stray(path)
            log.warning("spool file %s quarantined: %s", path, why)
            out.append(Item(offset, None, raw=raw, error=f"UnreadableSegmentError: {why}"))

    # -- deleting -------------------------------------------------------------------------

    def delete(self, ingested: int | None, detected: int | None) -> int:
        """Delete the finished segments and strays whose last item both the ledger
        (``ingested``) and the detectors (``detected``) have; remove the directory once
        nothing is left. Returns how many segments were deleted."""
        keep, deleted = [], 0
        for path, last, segment in self._finished:
            if not covered(last, ingested, detected):
                keep.append((path, last, segment))
            elif segment:
                try:
                    path.unlink(missing_ok=True)
                    cursor_path(path).unlink(missing_ok=True)
                except OSError as exc:  # a directory made read-only: the next run tries again
                    log.warning("spool segment %s read but not deleted: %s", path, exc)
                else:
                    deleted += 1
            else:
                try:
                    path.unlink(missing_ok=True)  # a symlink itself, never its target
                except OSError as exc:  # a directory: stays, quarantined once by this run
                    log.warning("spool stray %s kept: %s", path, exc)
                else:
                    self._strayed.discard(path.name)
        self._finished = keep
        if self.exhausted and not keep and not self._refusal and not self._listing()[0]:
            self._remove()
        return deleted

    @property
    def removed(self) -> bool:
        return not os.path.lexists(self.dir)

    def _remove(self) -> None:
        try:
            leftovers = [p.name for p in self.dir.iterdir() if p.name not in (LOCK, ADOPTED)]
        except OSError:
            leftovers = ["(unreadable)"]
        if leftovers:  # e.g. rejected.jsonl: keep it for people to see
            log.info("spool directory %s kept for %s", self.dir, ", ".join(leftovers))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
