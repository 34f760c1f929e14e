"""One-line, human-readable summaries of events for the terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from handrail.schemas import EventRecord, event_type

_KEYS = (
    "action",
    "effect",
    "rule",
    "reason",
    "rationale",
    "to_agent",
    "from_agent",
    "usd",
    "approver",
    "error_type",
    "attempt",
    "status",
)


def summary(record: EventRecord) -> str:
    fields: dict[str, Any] = record["payload"][1]
    parts = [f"{k}={fields[k]}" for k in _KEYS if fields.get(k) not in (None, "", [])]
    failed = [c["name"] for c in fields.get("checks", []) if not c["passed"]]
    if failed:
        parts.append(f"FAILED checks={','.join(failed)}")
    return " ".join(parts)


def events_table(records: list[EventRecord], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("workflow", "agent", "seq", "type", "what"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r["workflow_id"], r["agent"]["name"], str(r["sequence"]), event_type(r), summary(r)
        )
    return table
