"""From a decoded event to a ledger row (pure, no I/O).

A row is the event as JSON (``event_json``: the payload flattened with its ``type``), the
message as the producer wrote it (``raw_hex``), the writer's schema version, the Kafka
position, and typed columns for what forensics filters on. The typed columns are a pure
function of the flattened event (``typed_columns``). The hash chain (``ledger/chain.py``)
covers the raw message, the version and the position; ``verify`` checks that
``event_json`` is the raw message's event (``expected_json``) and that the typed columns
are those of ``event_json``. The sink mostly has ClickHouse build rows from the raw
messages (``ledger/ingest_sql.py``, the same functions in SQL); this module builds them in
Python, for messages ClickHouse refused and for ``verify``.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from handrail.schemas import EventRecord, event_type
from handrail.schemas.vocabulary import APPROVAL_STATES

TYPED_COLUMNS = (
    "event_id", "type", "time", "workflow_id", "causation_id", "agent", "agent_version",
    "owner", "session_id", "sequence", "action", "resource", "reason", "cost_usd", "effect",
    "rule", "checks_passed", "checks_failed", "handoff_id", "handoff_from", "handoff_to",
    "approval_id", "approval_state",
)  # fmt: skip
"""Columns derived from ``event_json`` by ``typed_columns``."""
COLUMNS = (
    *TYPED_COLUMNS, "schema_version", "event_json", "topic", "partition", "offset",
    "prev_hash", "row_hash", "raw_hex",
)  # fmt: skip
"""Every column of an event row (``ingested_at`` is the table's default)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def flat_event(record: EventRecord) -> dict[str, Any]:
    """The event as ``event_json`` holds it: the payload flattened, with its ``type``."""
    return {**record, "payload": {"type": event_type(record), **record["payload"][1]}}


def typed_columns(event: dict[str, Any]) -> dict[str, Any]:
    """The typed columns of a flattened event (``flat_event``, or ``event_json`` parsed).

    Values are taken as they come: from a decoded record ``event_id`` is a ``UUID`` and
    ``time`` a UTC ``datetime``, from parsed JSON both are strings.
    """
    p: dict[str, Any] = event["payload"]
    kind: str = p["type"]
    agent_ref = event["agent"]
    agent = agent_ref["name"]
    checks = p.get("checks") or ()
    handoff_from, handoff_to = "", ""
    if kind == "handoff_offered":
        handoff_from, handoff_to = agent, p["to_agent"]
    elif kind in ("handoff_accepted", "handoff_rejected"):
        handoff_from, handoff_to = p["from_agent"], agent
    return {
        "event_id": event["event_id"],
        "type": kind,
        "time": event["time"],
        "workflow_id": event["workflow_id"],
        "causation_id": event["causation_id"] or "",
        "agent": agent,
        "agent_version": agent_ref["version"],
        "owner": agent_ref["owner"],
        "session_id": event["session_id"],
        "sequence": event["sequence"],
        "action": p.get("action") or "",
        "resource": p.get("resource") or "",
        "reason": p.get("rationale") or p.get("reason") or p.get("error_message") or "",
        "cost_usd": _cost(p["usd"]) if kind == "spend" else 0.0,  # money spent, not estimates
        "effect": p.get("effect") or "",
        "rule": p.get("rule") or "",
        "checks_passed": [c["name"] for c in checks if c["passed"]],
        "checks_failed": [c["name"] for c in checks if not c["passed"]],
        "handoff_id": p.get("handoff_id") or "",
        "handoff_from": handoff_from,
        "handoff_to": handoff_to,
        "approval_id": p.get("approval_id") or "",
        "approval_state": APPROVAL_STATES.get(kind, ""),
    }


def _cost(usd: float | None) -> float:
    """A spend's ``cost_usd``: its ``usd``, or 0 when that is NaN or infinite. JSON has no
    such numbers: ``event_json`` holds ``null`` (orjson and ClickHouse alike write one so)
    and the ledger's SQL reads ``null`` as 0 (``ingest_sql.py``: ``JSONExtractFloat``); the
    message's own number stays in ``raw_hex``."""
    return float(usd) if usd is not None and math.isfinite(usd) else 0.0


def _uuid_text(value: uuid.UUID | str) -> str:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def _utc(value: datetime | int) -> datetime:
    """A decoded time as a UTC ``datetime``: from timestamp-micros read plain, or as read."""
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def event_json(event: dict[str, Any]) -> str:
    """A flattened event as canonical JSON: sorted keys, compact."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()


def to_row(
    record: EventRecord, schema_version: int, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """The ledger row of one decoded event (hashes not yet set), decoded with its logical
    types or without (``decode(..., logical=False)``, the sink's cheaper read): either way
    ``event_id`` becomes its canonical text and ``time`` a UTC ``datetime``. A value that
    the ledger cannot hold (not a UUID, a time out of range, a negative sequence) raises
    ``ValueError``/``OverflowError``."""
    event = flat_event(record)
    event["event_id"] = _uuid_text(event["event_id"])
    event["time"] = _utc(event["time"])
    if event["sequence"] < 0:
        raise ValueError(f"sequence {event['sequence']} is negative")
    row = typed_columns(event)
    row["schema_version"] = schema_version
    row["event_json"] = event_json(event)
    row["topic"] = topic
    row["partition"] = partition
    row["offset"] = offset
    return row
