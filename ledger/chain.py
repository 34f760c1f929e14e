"""The hash chain over a partition's rows, and its first broken link (pure, no I/O).

Each row of a (topic, partition) carries ``prev_hash`` (the previous row's ``row_hash``,
zeros for the first) and

    row_hash = SHA-256(prev_hash || raw message || "\\n" schema_version "\\n" position)

with ``position`` = ``topic/partition/offset`` and the raw message the Kafka message's
bytes as the producer wrote them (``raw_hex``): bytes the sink has without decoding
anything. ``first_break`` checks each row three times: its hash; its ``event_json``
against the event decoded from its raw message (as JSON values: the JSON text may come
from ClickHouse or from Python); its typed columns recomputed from its ``event_json``.
Editing any column but ``ingested_at``, deleting a row or inserting one is caught and
named.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from handrail.ledger.rows import TYPED_COLUMNS, to_row, typed_columns
from handrail.schemas import DecodeError, decode

GENESIS = "0" * 64


def row_hash(prev_hash: str, raw: bytes, row: dict[str, Any]) -> str:
    tail = f"\n{row['schema_version']}\n{row['topic']}/{row['partition']}/{row['offset']}"
    return hashlib.sha256(b"".join((bytes.fromhex(prev_hash), raw, tail.encode()))).hexdigest()


def chain(rows: list[dict[str, Any]], head: str) -> str:
    """Set ``prev_hash``/``row_hash`` on new rows of one partition (offset order, each
    with its message as ``raw``); return the new head."""
    for row in rows:
        row["prev_hash"] = head
        row["row_hash"] = head = row_hash(head, row["raw"], row)
    return head


def _as_json(value: Any) -> Any:
    """A stored value as its ``event_json`` counterpart (the ledger returns naive UTC)."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return orjson.loads(orjson.dumps(value))


def expected_event(raw: bytes, row: dict[str, Any]) -> Any:
    """The event of a raw message as its ``event_json`` should hold it (in its writer's
    shape: no later schema changes it), parsed; None if the message does not decode."""
    try:
        version, record = decode(raw, logical=False, resolve=False)
    except DecodeError:
        return None
    made = to_row(record, version.version, row["topic"], row["partition"], row["offset"])
    return orjson.loads(made["event_json"])


def edited_column(row: dict[str, Any]) -> str | None:
    """The first column of a stored row that differs from its raw message's event
    (``event_json``), or from its ``event_json`` (a typed column)."""
    try:
        event = orjson.loads(row["event_json"])
        if event != expected_event(bytes.fromhex(row["raw_hex"]), row):
            return "event_json"
        expected = typed_columns(event)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return "event_json"
    for column in TYPED_COLUMNS:
        if _as_json(row[column]) != expected[column]:
            return column
    return None


def first_break(
    rows: list[dict[str, Any]], checkpoint: tuple[int, str] | None
) -> tuple[int, str] | None:
    """The first broken link of one partition's chain (rows in offset order), as
    ``(offset, what)``; None when the chain is whole and ends at the checkpoint."""
    head, last_offset = GENESIS, -1
    for row in rows:
        offset = row["offset"]
        if offset == last_offset:
            return offset, f"two rows at offset {offset}: a row was inserted"
        if row["prev_hash"] != head:
            return offset, (
                f"row {row['event_id']} does not follow the previous row: a row before it "
                "was deleted, or it was inserted"
            )
        if row_hash(head, bytes.fromhex(row["raw_hex"]), row) != row["row_hash"]:
            return offset, f"row {row['event_id']} was edited: its hash does not match"
        column = edited_column(row)
        if column is not None:
            return offset, f"row {row['event_id']} was edited: {column} differs from its event"
        head, last_offset = row["row_hash"], offset
    if checkpoint is None:
        return (last_offset, "rows exist but no checkpoint anchors them") if rows else None
    offset, digest = checkpoint
    if last_offset < offset:
        return offset, f"the checkpointed row at offset {offset} is missing: rows were deleted"
    if last_offset > offset:
        return last_offset, f"rows after the last checkpoint (offset {offset}) were inserted"
    if head != digest:
        return offset, f"the row at offset {offset} differs from its checkpoint"
    return None
