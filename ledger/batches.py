"""From a batch of Kafka messages to the sink's inserts (pure, no I/O).

``build`` turns one partition's messages into rows. A message of the current schema
version becomes an ``ingest`` row: its bytes, position and event id, for ClickHouse to
decode and turn into an ``events`` row itself (``ledger/ingest_sql.py``), which is where
the sink's throughput comes from. In ``careful`` mode (a stretch that ClickHouse refused,
``ledger/sink.py``), and for a message of an older schema version or one whose envelope
does not start as the current writer's does, the sink decodes it here instead: an
``events`` row (``rows.to_row``, the event in its writer's shape) per decodable message,
a ``quarantine`` row (raw bytes and the error) per other one. Either way a copy of an
event already in the ledger (``recent_ids``) goes to quarantine. The writers then chain
every row of a partition, quarantine rows too (``chain.chain``). ``runs`` cuts a
partition's rows into runs of consecutive rows for one table part (same table, same
month). ``inserts`` then groups
the streams' runs (a stream: a topic's partition, or an embedded source): each insert
takes the next run of every stream whose next run has the same key, so an insert extends
each of its streams' rows in offset order (a crash between two inserts leaves every
stream whole up to its highest offset), and a batch of one month's events is one insert,
one part, however many streams it spans (small inserts cost ClickHouse twice as much per
row).
"""

from __future__ import annotations

import gc
from collections import deque
from datetime import timedelta
from typing import Any

from handrail.ledger.errors import DuplicateEvent
from handrail.ledger.ingest_sql import TIME_RANGE_US
from handrail.ledger.recent_ids import RecentIds
from handrail.ledger.rows import COLUMNS, EPOCH, to_row
from handrail.schemas import decode, registry
from handrail.schemas.registry import MAGIC
from handrail.schemas.wire import HEADER_SIZE

Message = tuple[int, bytes | None, bytes | None]
"""A Kafka message as the batch needs it: offset, key, value."""
QUARANTINE_COLUMNS = (
    "topic", "partition", "offset", "key_hex", "raw_hex", "error_type", "error", "prev_hash",
    "row_hash",
)  # fmt: skip
TABLE_COLUMNS = {"events": COLUMNS, "quarantine": QUARANTINE_COLUMNS}
"""The columns the sink writes, per table."""
Item = tuple[str, dict[str, Any]]
"""A row and where it goes: ``ingest`` (ClickHouse decodes it), ``events`` or
``quarantine``."""
_UUID_TEXT = 0x48
"""The Avro length of a 36-character string: an envelope's first byte after the header."""
_DAY_US = 86_400_000_000
_MONTHS: dict[int, int] = {}
"""yyyymm of a day since the epoch (cache)."""
Run = tuple[tuple[str, int], list[dict[str, Any]]]
"""Consecutive rows of one partition for one part: ``((table, yyyymm), rows)``."""
Stream = tuple[str, int]
"""What one chain covers: a (topic, partition) (an embedded source is a topic, partition 0)."""


def build(
    topic: str,
    partition: int,
    messages: list[Message],
    recent: RecentIds | None = None,
    careful: bool = False,
) -> list[Item]:
    """The rows of one partition's messages, in the given (offset) order; no hashes yet.
    With ``recent``, a copy of an event it remembers goes to quarantine; ``careful``
    decodes every message here (no ``ingest`` rows).

    The cyclic garbage collector is paused meanwhile: the loop allocates many short-lived
    objects without cycles (reference counting frees them), and the collector's passes
    over a batch's live rows cost about 15% of the sink's throughput."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(topic, partition, messages, recent, careful)
    finally:
        if was_enabled:
            gc.enable()


def _build(
    topic: str, partition: int, messages: list[Message], recent: RecentIds | None, careful: bool
) -> list[Item]:
    current = registry().current
    header = MAGIC + current.fingerprint
    items: list[Item] = []
    for offset, key, message in messages:
        value = message or b""
        row = None if careful else _ingest_row(value, header, current.version)
        try:
            if row is None:
                version, record = decode(value, logical=False, resolve=False)
                row = to_row(record, version.version, topic, partition, offset)
                row["raw"], row["raw_hex"] = value, value.hex()
                table = "events"
            else:
                row["topic"], row["partition"], row["offset"] = topic, partition, offset
                table = "ingest"
            first = None if recent is None else recent.first_offset(row["event_id"], offset)
            if first is not None:
                where = f"offset {first} of partition {partition}"
                raise DuplicateEvent(f"a copy of event {row['event_id']}, in the ledger at {where}")
            items.append((table, row))
        except Exception as exc:  # undecodable, unexpected or a copy: quarantine, never stop
            items.append(("quarantine", {
                "topic": topic, "partition": partition, "offset": offset,
                "key_hex": (key or b"").hex(), "raw_hex": value.hex(),
                "error_type": type(exc).__name__, "error": str(exc),
            }))  # fmt: skip
    return items


def envelope(value: bytes, header: bytes) -> tuple[str, int] | None:
    """The event id (text) and time (micros) a message starts with, when it has ``header``
    and its envelope starts as the writer's does (a 36-character event id, then a time the
    ledger can hold); else None. Also ``verify``'s test of what the fast path could take."""
    if value[:HEADER_SIZE] != header or len(value) < HEADER_SIZE + 38:
        return None
    if value[HEADER_SIZE] != _UUID_TEXT:
        return None
    try:
        event_id = value[HEADER_SIZE + 1 : HEADER_SIZE + 37].decode("ascii")
    except UnicodeDecodeError:
        return None
    n, shift, pos = 0, 0, HEADER_SIZE + 37
    while True:  # the time: an Avro long
        if pos >= len(value) or shift > 63:
            return None
        byte = value[pos]
        n |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            break
        shift += 7
    micros = (n >> 1) ^ -(n & 1)
    if not TIME_RANGE_US[0] <= micros <= TIME_RANGE_US[1]:
        return None
    return event_id, micros


def _ingest_row(value: bytes, header: bytes, version: int) -> dict[str, Any] | None:
    """The ``ingest`` row of a current-version message (``envelope``); else None."""
    found = envelope(value, header)
    if found is None:
        return None
    event_id, micros = found
    day = micros // _DAY_US
    month = _MONTHS.get(day)
    if month is None:
        date = EPOCH + timedelta(days=day)
        month = _MONTHS[day] = date.year * 100 + date.month
    return {
        "event_id": event_id, "month": month, "raw": value, "body": value[HEADER_SIZE:],
        "schema_version": version,
    }  # fmt: skip


def runs(items: list[Item]) -> list[Run]:
    """Consecutive rows for the same table (and, for events, the same month partition)."""
    out: list[Run] = []
    for table, row in items:
        if table == "ingest":
            key = (table, row["month"])
        else:
            key = (table, row["time"].year * 100 + row["time"].month if table == "events" else 0)
        if not out or out[-1][0] != key:
            out.append((key, []))
        out[-1][1].append(row)
    return out


def inserts(by_stream: dict[Stream, list[Run]]) -> list[tuple[str, list[Any], str]]:
    """The inserts of a batch, in order: ``(table, rows, deduplication token)``. Each insert
    takes the next run of every stream (topic, partition) whose next run has the same key
    as the first stream's, so each stream's rows land in offset order."""
    queues = {s: deque(r) for s, r in sorted(by_stream.items()) if r}
    out: list[tuple[str, list[Any], str]] = []
    while queues:
        key = next(iter(queues.values()))[0][0]
        rows: list[Any] = []
        spans = []
        for (topic, partition), queue in list(queues.items()):
            if queue[0][0] != key:
                continue
            run = queue.popleft()[1]
            rows.extend(run)
            spans.append(f"{topic}:{partition}:{run[0]['offset']}-{run[-1]['offset']}")
            if not queue:
                del queues[(topic, partition)]
        out.append((key[0], rows, ",".join(spans)))
    return out
