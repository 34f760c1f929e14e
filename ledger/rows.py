"""From a decoded event to a ledger row, and the hash chain over rows (pure, no I/O).

Each row of a (topic, partition) carries ``prev_hash`` (the previous row's ``row_hash``,
zeros for the first) and ``row_hash = SHA-256(prev_hash || canonical row || position)``.
The canonical row is every stored column but the hashes and ``ingested_at``, in a fixed
order, as compact JSON; so editing any column, deleting or inserting a row breaks the
chain, and ``verify`` recomputes it from what the ledger returns.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from handrail.schemas import EventRecord, event_type

GENESIS = "0" * 64

HASHED_COLUMNS = (
    "event_id", "type", "time", "workflow_id", "causation_id", "agent", "agent_version",
    "owner", "session_id", "sequence", "action", "resource", "reason", "cost_usd", "effect",
    "rule", "checks_passed", "checks_failed", "handoff_id", "handoff_from", "handoff_to",
    "approval_id", "approval_state", "schema_version", "event_json", "topic", "partition",
    "offset",
)  # fmt: skip
COLUMNS = (*HASHED_COLUMNS, "prev_hash", "row_hash")

_APPROVAL_STATES = {
    "approval_requested": "requested",
    "approval_granted": "granted",
    "approval_denied": "denied",
    "approval_expired": "expired",
}


def event_json(record: EventRecord, kind: str) -> str:
    """The whole event as canonical JSON (sorted keys), payload flattened with its ``type``."""
    flat = {**record, "payload": {"type": kind, **record["payload"][1]}}
    return orjson.dumps(flat, option=orjson.OPT_SORT_KEYS).decode()


def to_row(
    record: EventRecord, schema_version: int, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """The typed ledger columns of one decoded event (hashes not yet set)."""
    kind = event_type(record)
    p: dict[str, Any] = record["payload"][1]
    agent = record["agent"]["name"]
    checks = p.get("checks") or []
    handoff_from, handoff_to = "", ""
    if kind == "handoff_offered":
        handoff_from, handoff_to = agent, p["to_agent"]
    elif kind in ("handoff_accepted", "handoff_rejected"):
        handoff_from, handoff_to = p["from_agent"], agent
    return {
        "event_id": uuid.UUID(str(record["event_id"])),
        "type": kind,
        "time": record["time"].astimezone(UTC),
        "workflow_id": record["workflow_id"],
        "causation_id": record["causation_id"] or "",
        "agent": agent,
        "agent_version": record["agent"]["version"],
        "owner": record["agent"]["owner"],
        "session_id": record["session_id"],
        "sequence": record["sequence"],
        "action": p.get("action") or "",
        "resource": p.get("resource") or "",
        "reason": p.get("rationale") or p.get("reason") or p.get("error_message") or "",
        "cost_usd": float(p["usd"]) if kind == "spend" else 0.0,  # money spent, not estimates
        "effect": p.get("effect") or "",
        "rule": p.get("rule") or "",
        "checks_passed": [c["name"] for c in checks if c["passed"]],
        "checks_failed": [c["name"] for c in checks if not c["passed"]],
        "handoff_id": p.get("handoff_id") or "",
        "handoff_from": handoff_from,
        "handoff_to": handoff_to,
        "approval_id": p.get("approval_id") or "",
        "approval_state": _APPROVAL_STATES.get(kind, ""),
        "schema_version": schema_version,
        "event_json": event_json(record, kind),
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):  # the ledger returns naive UTC datetimes
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    return value


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers."""
    values = [_canonical_value(row[c]) for c in HASHED_COLUMNS]
    return orjson.dumps(values)


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    position = f"{row['topic']}/{row['partition']}/{row['offset']}".encode()
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical(row))
    digest.update(position)
    return digest.hexdigest()


def chain(rows: list[dict[str, Any]], head: str) -> str:
    """Set ``prev_hash``/``row_hash`` on rows of one partition (offset order); new head."""
    for row in rows:
        row["prev_hash"] = head
        row["row_hash"] = head = row_hash(head, row)
    return head


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
        if row_hash(head, row) != row["row_hash"]:
            return offset, f"row {row['event_id']} was edited: its hash does not match"
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
