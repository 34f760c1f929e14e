"""One-line, human-readable summaries of events for the terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from handrail.humanize import duration, plural, usd
from handrail.schemas import EventRecord, event_type

ALERT = "alert_raised"

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


def _label(node: dict[str, Any]) -> str:
    """One event on one line; every value from the ledger escaped (it is an agent's text)."""
    if node["type"] == ALERT:
        colour = "red" if node.get("severity") == "critical" else "yellow"
        return (
            f"[bold {colour}]ALERT[/] {escape(node.get('severity', ''))} "
            f"{escape(node.get('detector', ''))}: {escape(node.get('summary', ''))}"
        )
    if node["type"] == "halt":
        what = " ".join(str(node.get(k, "")) for k in ("scope", "target_agent", "operation_id"))
        return f"[bold magenta]HALT[/] {escape(what.strip())}"
    if node["type"] == "alert_delivered":
        channel = node.get("channel", "")
        sent = f"delivered to {channel}" if node.get("ok") else f"not delivered to {channel}"
        return escape(sent + (f": {node['error']}" if node.get("error") else ""))
    parts = [f"[bold]{escape(node['agent'])}[/] {escape(node['type'])}"]
    if node.get("action"):
        parts.append(f"[cyan]{escape(node['action'])}[/]")
    if node.get("reason"):
        parts.append(f"— {escape(node['reason'])}")
    checks = node.get("checks") or {}
    if checks.get("failed"):
        parts.append(f"[red]failed: {escape(', '.join(checks['failed']))}[/]")
    if checks.get("passed"):
        parts.append(f"[green]passed: {escape(', '.join(checks['passed']))}[/]")
    if node.get("effect"):
        parts.append(f"verdict {escape(node['effect'])} ({escape(node.get('rule', ''))})")
    if node.get("approval_state"):
        who = node.get("approver", "")
        parts.append(escape(f"approval {node['approval_state']} {who}".rstrip()))
    if node.get("handoff"):
        parts.append(escape(f"handoff {node['handoff']['from']} -> {node['handoff']['to']}"))
    if node.get("cost_usd"):
        parts.append(usd(node["cost_usd"]))
    for item in node.get("inputs") or []:
        parts.append(escape(f"input {item.get('name')}={item.get('ref') or item.get('value')}"))
    text = " ".join(parts)
    return f"[reverse]{text}[/]" if node.get("on_path") else text


def _since(start: datetime | None, node: dict[str, Any]) -> str:
    try:
        return f"+{duration((_time(node) - start).total_seconds())}" if start else ""
    except (TypeError, ValueError):
        return ""


def _time(node: dict[str, Any]) -> datetime:
    at = node["time"]
    return at if isinstance(at, datetime) else datetime.fromisoformat(str(at))


def _add_alerts(line: Tree, node: dict[str, Any]) -> None:
    """An event's alerts under it, each with what followed it (halts, deliveries)."""
    for alert in node.get("alerts") or []:
        branch = line.add(_label(alert))
        for follow in alert.get("then") or []:
            branch.add(_label(follow))


def decision_tree(tree: dict[str, Any]) -> Tree:
    """The ``explain`` view for the terminal: the workflow's events as a numbered timeline
    in causal order, flat however long the chain (an event is caused by the line above it
    unless it says ``← #n``), each alert under the event it concerns, the path to the
    target highlighted."""
    s = tree["summary"]
    header = (
        f"[bold]workflow {escape(tree['workflow_id'])}[/]: {plural(s['events'], 'event')}, "
        f"agents {escape(', '.join(s['agents']))}, cost {usd(s['cost_usd'])}"
    )
    if s["failed_checks"]:
        header += f", failed checks: {escape(', '.join(s['failed_checks']))}"
    if s.get("alerts"):
        header += f", [bold red]{plural(len(s['alerts']), 'alert')}[/]"
    if tree.get("target"):
        header += f"\nthe path to event {escape(tree['target'])} is highlighted"
    root = Tree(header)
    events = tree["events"]
    line_of = {node["event_id"]: i for i, node in enumerate(events)}
    try:
        start = min(_time(node) for node in events) if events else None
    except (TypeError, ValueError):
        start = None
    for i, node in enumerate(events):
        cause = line_of.get(node.get("caused_by") or "")
        after = ""
        if cause is None and i:
            after = " [dim](no cause in this workflow)[/]"
        elif cause is not None and cause != i - 1:
            after = f" [dim]← #{cause + 1}[/]"
        line = root.add(f"[dim]#{i + 1} {_since(start, node)}[/] {_label(node)}{after}")
        _add_alerts(line, node)
    return root
