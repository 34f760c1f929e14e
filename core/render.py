"""One-line, human-readable summaries of events for the terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.tree import Tree

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


def _label(node: dict[str, Any]) -> str:
    parts = [f"[bold]{node['agent']}[/] {node['type']}"]
    if node.get("action"):
        parts.append(f"[cyan]{node['action']}[/]")
    if node.get("reason"):
        parts.append(f"— {node['reason']}")
    checks = node.get("checks") or {}
    if checks.get("failed"):
        parts.append(f"[red]failed: {', '.join(checks['failed'])}[/]")
    if checks.get("passed"):
        parts.append(f"[green]passed: {', '.join(checks['passed'])}[/]")
    if node.get("effect"):
        parts.append(f"verdict {node['effect']} ({node.get('rule', '')})")
    if node.get("approval_state"):
        parts.append(f"approval {node['approval_state']} {node.get('approver', '')}".rstrip())
    if node.get("handoff"):
        parts.append(f"handoff {node['handoff']['from']} -> {node['handoff']['to']}")
    if node.get("cost_usd"):
        parts.append(f"${node['cost_usd']:.4f}")
    for item in node.get("inputs") or []:
        parts.append(f"input {item.get('name')}={item.get('ref') or item.get('value')}")
    text = " ".join(parts)
    return f"[reverse]{text}[/]" if node.get("on_path") else text


def decision_tree(tree: dict[str, Any]) -> Tree:
    """The ``explain`` tree for the terminal; the path to the target is highlighted."""
    s = tree["summary"]
    root = Tree(
        f"[bold]workflow {tree['workflow_id']}[/]: {s['events']} events, "
        f"agents {', '.join(s['agents'])}, cost ${s['cost_usd']:.4f}"
        + (f", failed checks: {', '.join(s['failed_checks'])}" if s["failed_checks"] else "")
    )

    def add(parent: Tree, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            add(parent.add(_label(node)), node["children"])

    add(root, tree["roots"])
    return root
