"""``explain``: the decision path of a workflow, or of one event, rebuilt from the ledger.

The events follow causation (each event after the event that caused it). Given an event
id, the path is the workflow as it stood when that event happened, and the chain of
causes from the start of the workflow to the event is marked ``on_path``; a handoff id or
an approval id stands for its latest event. An alert is not an event of its own here: it
is shown on the event it concerns (the one it was raised on), under ``alerts``, with its
detector, severity and summary, and what followed it (the halt, the deliveries) under
``then``; an alert raised after the target on one of its events is kept.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from handrail.ledger.errors import NotInLedgerError
from handrail.ledger.reader import Reader
from handrail.trees import preorder

PATH_COLUMNS = (
    "event_id",
    "type",
    "time",
    "workflow_id",
    "causation_id",
    "sequence",
    "agent",
    "action",
    "resource",
    "reason",
    "cost_usd",
    "effect",
    "rule",
    "checks_passed",
    "checks_failed",
    "handoff_id",
    "handoff_from",
    "handoff_to",
    "approval_id",
    "approval_state",
    "event_json",
)


def _is_uuid(ref: str) -> bool:
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True


ALERT = "alert_raised"
PAYLOAD_KEYS = (
    "inputs", "alternatives", "approver", "error_type", "error_message", "to_agent",
    "detector", "severity", "summary", "dedup_key", "channel", "ok", "error", "scope",
    "target_agent", "operation_id",
)  # fmt: skip
"""What a node takes from its event's payload, where the event has it."""


def fetch(reader: Reader, ref: str) -> tuple[list[dict[str, Any]], str | None]:
    """The workflow's rows (time order) and the target event id, for an event id, a
    workflow id, or a handoff or approval id (its latest event is the target)."""
    target = None
    workflow = ref
    if _is_uuid(ref):
        found = reader.query(
            "SELECT workflow_id FROM events WHERE event_id = {id:UUID} LIMIT 1",
            {"id": str(uuid.UUID(ref))},
        )
        if found:
            workflow, target = found[0]["workflow_id"], str(uuid.UUID(ref))
    rows = _workflow(reader, workflow)
    if not rows and target is None:  # a handoff's or an approval's id: its latest event
        found = reader.query(
            "SELECT workflow_id, toString(event_id) AS event_id FROM events "
            "WHERE handoff_id = {id:String} OR approval_id = {id:String} "
            "ORDER BY time DESC, sequence DESC LIMIT 1",
            {"id": ref},
        )
        if found:
            target = found[0]["event_id"]
            rows = _workflow(reader, found[0]["workflow_id"])
    if not rows:
        raise NotInLedgerError(f"no event, workflow, handoff or approval {ref!r} in the ledger")
    return rows, target


def _workflow(reader: Reader, workflow: str) -> list[dict[str, Any]]:
    return reader.query(
        f"SELECT {', '.join(PATH_COLUMNS)} FROM events WHERE workflow_id = {{w:String}} "
        "ORDER BY time, sequence",
        {"w": workflow},
    )


def _node(row: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(row["event_json"]).get("payload", {}) if row["event_json"] else {}
    node: dict[str, Any] = {
        "event_id": str(row["event_id"]),
        "time": row["time"].isoformat() if isinstance(row["time"], datetime) else row["time"],
        "agent": row["agent"],
        "type": row["type"],
    }
    for key in ("action", "resource", "reason", "effect", "rule", "approval_id", "approval_state"):
        if row[key]:
            node[key] = row[key]
    if row["cost_usd"]:
        node["cost_usd"] = row["cost_usd"]
    if row["checks_passed"] or row["checks_failed"]:
        node["checks"] = {
            "passed": list(row["checks_passed"]),
            "failed": list(row["checks_failed"]),
        }
    if row["handoff_id"]:
        node["handoff"] = {
            "id": row["handoff_id"],
            "from": row["handoff_from"],
            "to": row["handoff_to"],
        }
    for key in PAYLOAD_KEYS:
        if payload.get(key) not in (None, "", []):
            node[key] = payload[key]
    node["children"] = []
    return node


def _kept(rows: list[dict[str, Any]], target: str) -> list[dict[str, Any]]:
    """The rows up to the target's time, and the alerts raised after it on those events
    (with what they caused: halts, deliveries)."""
    cutoff = next(r["time"] for r in rows if str(r["event_id"]) == target)
    kept, alerts = [], set()
    ids: set[str] = set()
    for r in rows:
        cause = r["causation_id"]
        if r["time"] <= cutoff or (r["type"] == ALERT and cause in ids) or cause in alerts:
            kept.append(r)
            ids.add(str(r["event_id"]))
            if r["time"] > cutoff:
                alerts.add(str(r["event_id"]))
    return kept


def _timeline(roots: list[dict[str, Any]], nodes: dict[str, dict[str, Any]]) -> list[Any]:
    """Every node reachable from ``roots`` through ``children``, depth first (each one's
    effects in time order), then any left out (a causation cycle, which has no root),
    each once."""
    return preorder([*roots, *nodes.values()], lambda node: node["children"])


def path_to(rows: list[dict[str, Any]], target: str) -> list[str]:
    """The chain of causes from the workflow's start to ``target`` (event ids, first to
    last), as far as the rows hold it."""
    by_id = {str(r["event_id"]): r for r in rows}
    path: list[str] = []
    at: str | None = target
    while at in by_id and at not in path:
        path.append(at)
        at = by_id[at]["causation_id"] or None
    path.reverse()
    return path


def build(rows: list[dict[str, Any]], target: str | None = None) -> dict[str, Any]:
    """The decision path (pure): ``{"workflow_id", "target", "path", "summary", "events"}``.

    ``events`` is flat, in causal order (depth first by causation, effects in time order),
    each event with ``caused_by``, and its ``alerts``, each alert with what followed it
    (``then``): flat however long the chain, so the JSON of a workflow of any length can
    be written and read back."""
    if target is not None:
        rows = _kept(rows, target)
    nodes = {str(r["event_id"]): _node(r) for r in rows}
    roots: list[dict[str, Any]] = []
    for row in rows:
        node, cause = nodes[str(row["event_id"])], row["causation_id"]
        node["caused_by"] = cause or None
        if cause not in nodes:
            roots.append(node)
        elif row["type"] == ALERT and nodes[cause]["type"] != ALERT:
            nodes[cause].setdefault("alerts", []).append(node)  # on the event it concerns
        else:
            nodes[cause]["children"].append(node)
    attached = [a for n in nodes.values() for a in n.get("alerts", [])]
    for alert in attached:
        alert["then"] = _timeline(alert["children"], {})
    aside = {id(x) for a in attached for x in (a, *a["then"])}
    events = [n for n in _timeline(roots, nodes) if id(n) not in aside]
    for node in nodes.values():
        del node["children"]
    path = path_to(rows, target) if target is not None else []
    for at in path:
        nodes[at]["on_path"] = True
    return {
        "workflow_id": rows[0]["workflow_id"],
        "target": target,
        "path": path,
        "summary": {
            "events": len(rows),
            "agents": sorted({r["agent"] for r in rows}),
            "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
            "failed_checks": sorted({c for r in rows for c in r["checks_failed"]}),
            "verdicts": [
                f"{r['action']}: {r['effect']} ({r['rule']})" for r in rows if r["effect"]
            ],
            "approvals": [
                f"{r['approval_id']}: {r['approval_state']}" for r in rows if r["approval_state"]
            ],
            "handoffs": [
                f"{r['handoff_from']} -> {r['handoff_to']}: {r['type']}"
                for r in rows
                if r["handoff_id"]
            ],
            "alerts": [
                f"{n.get('severity', '')} {n.get('detector', '')}: {n.get('summary', '')}"
                for n in nodes.values()
                if n["type"] == ALERT
            ],
        },
        "events": events,
    }


def explain(reader: Reader, ref: str) -> dict[str, Any]:
    """Fetch and build the decision tree of an event id or a workflow id."""
    rows, target = fetch(reader, ref)
    return build(rows, target)
