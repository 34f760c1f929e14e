"""From a batch of Kafka messages to the sink's inserts (pure, no I/O).

``build`` turns one partition's messages into rows: an ``events`` row per decodable
message, a ``quarantine`` row (raw bytes and the error) per other one and per copy of an
event already in the ledger (``recent_ids``). ``runs`` cuts a partition's rows into runs
of consecutive rows for one table part (same table, same month). ``inserts`` then groups
the partitions' runs: each insert takes the next run of every partition whose next run
has the same key, so an insert extends each of its partitions' rows in offset order (a
crash between two inserts leaves every partition whole up to its highest offset), and a
batch of one month's events is one insert, one part, however many partitions it spans
(small inserts cost ClickHouse twice as much per row).
"""

from __future__ import annotations

import gc
from collections import deque
from typing import Any

from handrail.ledger.errors import DuplicateEvent
from handrail.ledger.recent_ids import RecentIds
from handrail.ledger.rows import COLUMNS, to_row
from handrail.schemas import decode

Message = tuple[int, bytes | None, bytes | None]
"""A Kafka message as the batch needs it: offset, key, value."""
QUARANTINE_COLUMNS = ("topic", "partition", "offset", "key_hex", "raw_hex", "error_type", "error")
TABLE_COLUMNS = {"events": COLUMNS, "quarantine": QUARANTINE_COLUMNS}
"""The columns the sink writes, per table."""
Item = tuple[str, dict[str, Any]]
"""A row and its table (``events`` or ``quarantine``)."""
Run = tuple[tuple[str, int], list[dict[str, Any]]]
"""Consecutive rows of one partition for one part: ``((table, yyyymm), rows)``."""


def build(
    topic: str, partition: int, messages: list[Message], recent: RecentIds | None = None
) -> list[Item]:
    """The rows of one partition's messages, in the given (offset) order; no hashes yet.
    With ``recent``, a copy of an event it remembers goes to quarantine.

    The cyclic garbage collector is paused meanwhile: the loop allocates many short-lived
    objects without cycles (reference counting frees them), and the collector's passes
    over a batch's live rows cost about 15% of the sink's throughput."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(topic, partition, messages, recent)
    finally:
        if was_enabled:
            gc.enable()


def _build(
    topic: str, partition: int, messages: list[Message], recent: RecentIds | None
) -> list[Item]:
    items: list[Item] = []
    for offset, key, value in messages:
        try:
            version, record = decode(value or b"", logical=False)
            row = to_row(record, version.version, topic, partition, offset)
            first = None if recent is None else recent.first_offset(row["event_id"], offset)
            if first is not None:
                where = f"offset {first} of partition {partition}"
                raise DuplicateEvent(f"a copy of event {row['event_id']}, in the ledger at {where}")
            items.append(("events", row))
        except Exception as exc:  # undecodable, unexpected or a copy: quarantine, never stop
            items.append(("quarantine", {
                "topic": topic, "partition": partition, "offset": offset,
                "key_hex": (key or b"").hex(), "raw_hex": (value or b"").hex(),
                "error_type": type(exc).__name__, "error": str(exc),
            }))  # fmt: skip
    return items


def runs(items: list[Item]) -> list[Run]:
    """Consecutive rows for the same table (and, for events, the same month partition)."""
    out: list[Run] = []
    for table, row in items:
        key = (table, row["time"].year * 100 + row["time"].month if table == "events" else 0)
        if not out or out[-1][0] != key:
            out.append((key, []))
        out[-1][1].append(row)
    return out


def inserts(topic: str, by_partition: dict[int, list[Run]]) -> list[tuple[str, list[Any], str]]:
    """The inserts of a batch, in order: ``(table, rows, deduplication token)``."""
    queues = {p: deque(r) for p, r in sorted(by_partition.items()) if r}
    out: list[tuple[str, list[Any], str]] = []
    while queues:
        key = next(iter(queues.values()))[0][0]
        rows: list[Any] = []
        spans = []
        for partition, queue in list(queues.items()):
            if queue[0][0] != key:
                continue
            run = queue.popleft()[1]
            rows.extend(run)
            spans.append(f"{partition}:{run[0]['offset']}-{run[-1]['offset']}")
            if not queue:
                del queues[partition]
        out.append((key[0], rows, f"{topic}:{','.join(spans)}"))
    return out
