"""Where an event of the spool sits, as the ledger's ``(topic, partition, offset)`` (pure).

Each spool session directory ``<start-ns>-<session>`` (``layout``) is one *source*, like a Kafka
partition: its rows carry ``topic = "spool:<session>"`` and ``partition = 0``, and form one
hash chain (the session id is a random UUID's hex: one directory per session, ever). The
offset of the record at ``index`` (0-based) of segment ``seg-NNNNNNNN.avro`` is
``NNNNNNNN << 32 | index``: it grows in reading order, and the ledger's highest offset of a
source says exactly where reading resumes. ``REST`` as the index stands for the unreadable
remainder of a segment (a torn or corrupt tail, quarantined as one row); the indexes from
``STRAY`` on are the *strays* quarantined when a segment is finished: files of the
directory that look like segments but may not be read as one (a name off the layout, a
number out of range, a symlink). Segment numbers stop at ``MAX_SEGMENT``, so every offset
fits a signed 64-bit integer (the ledger's ``UInt64``, Avro's ``long``, the journal's JSON).

The pipeline's own events (alerts, halts, deliveries) are the source ``pipeline:<app id>``,
numbered 0, 1, 2, ...
"""

from __future__ import annotations

SPOOL = "spool:"
PIPELINE = "pipeline:"
INDEX_BITS = 32
REST = (1 << INDEX_BITS) - 1
"""The index of a segment's unreadable remainder (no record has it: segments are smaller)."""
STRAY = 1 << (INDEX_BITS - 1)
"""The index of a segment's first stray; records stop below it (the reader sees to it)."""
MAX_SEGMENT = (1 << (63 - INDEX_BITS)) - 1
"""The highest segment number read: ``position(MAX_SEGMENT, REST)`` < 2**63."""


def position(segment: int, index: int) -> int:
    """The offset of record ``index`` of segment number ``segment``."""
    if not 0 <= index <= REST:
        raise ValueError(f"record index out of range: {index}")
    if not 0 <= segment <= MAX_SEGMENT:
        raise ValueError(f"segment number out of range: {segment}")
    return segment << INDEX_BITS | index


def split(offset: int) -> tuple[int, int]:
    """``(segment, index)`` of an offset."""
    return offset >> INDEX_BITS, offset & REST


def next_position(offset: int | None) -> tuple[int, int]:
    """``(segment, index)`` of the first record after ``offset`` (None: from the start)."""
    if offset is None:
        return 0, 0
    segment, index = split(offset)
    return (segment + 1, 0) if index == REST else (segment, index + 1)


def source_topic(session: str) -> str:
    """The ledger topic of a recorder session's spool directory."""
    return f"{SPOOL}{session}"


def pipeline_topic(app_id: str) -> str:
    """The ledger topic of the pipeline's own events."""
    return f"{PIPELINE}{app_id}"


def lowest(*offsets: int | None) -> int | None:
    """The least of the known offsets; None when any is unknown (nothing done yet)."""
    if any(o is None for o in offsets):
        return None
    return min(o for o in offsets if o is not None)


def covered(last: int | None, *done: int | None) -> bool:
    """Is everything up to ``last`` (None: nothing) done by each of ``done``?"""
    if last is None:
        return True
    return all(d is not None and d >= last for d in done)
