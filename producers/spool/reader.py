"""Reading closed spool segments back: the recorder's replay and ``read_all`` (I/O).

Through the one segment reader (``cursor.SegmentCursor``): a block that does not decode,
or a torn tail (a writer killed mid-block), is logged and skipped, and the records around
it are read. A cursor file that is not a small number written by the spool counts as 0:
its records are replayed again, and consumers drop what they have by event id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from handrail.producers.spool.access import open_segment
from handrail.producers.spool.cursor import Item, SegmentCursor
from handrail.producers.spool.errors import UnreadableSegmentError
from handrail.producers.spool.layout import cursor_path, segment_number, segments, sessions
from handrail.producers.spool.segments import MAX_BLOCK
from handrail.schemas import EventRecord

log = logging.getLogger(__name__)

_CURSOR_MAX = 24
"""Bytes of a cursor file read at most (a number of records)."""


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


def read_segment(path: Path, max_block: int = MAX_BLOCK) -> list[EventRecord]:
    """The records of a closed segment file, in order; what cannot be read is logged."""
    cursor = SegmentCursor(segment_number(path.name) or 0, path, 0, max_block)
    items: list[Item] = []
    cursor.read(items, 1 << 62)
    records = [i.record for i in items if i.record is not None]
    problems = [i.error for i in items if i.record is None]
    rest = cursor.rest()
    if rest is not None:
        problems.append(rest.error)
    if problems:
        log.warning("spool segment %s: %d events read; skipped: %s",
                    path, len(records), "; ".join(problems))  # fmt: skip
    return records


def read_cursor(segment: Path) -> int:
    """How many leading records of ``segment`` are confirmed (0 when its cursor file is
    missing or not one the spool writes)."""
    try:
        with open_segment(cursor_path(segment)) as handle:
            text = handle.read(_CURSOR_MAX + 1)
    except FileNotFoundError:
        return 0
    except (OSError, UnreadableSegmentError) as exc:
        log.warning("spool cursor of %s ignored: %s", segment, exc)
        return 0
    if len(text) > _CURSOR_MAX or not text.strip().isdigit():
        if text:
            log.warning("spool cursor of %s ignored: not a count", segment)
        return 0
    return int(text)


def load(path: Path) -> Segment:
    """A closed segment to replay from its cursor."""
    records = read_segment(path)
    cursor = min(read_cursor(path), len(records))
    return Segment(path, records, [i < cursor for i in range(len(records))], cursor)


def read_all(root: Path) -> Iterator[EventRecord]:
    """Every event waiting in a spool directory, oldest session and segment first (read-only)."""
    for session in sessions(root):
        for path in segments(session):
            yield from read_segment(path)[read_cursor(path) :]
