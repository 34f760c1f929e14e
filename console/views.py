"""What the pages draw, from what ``data.py`` read (pure): the decision path as lanes, one
per agent, events in time order; spend over time as an SVG chart's lines; small numbers
for people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
           "#db2777")  # fmt: skip
CHART_W, CHART_H, PAD, LEGEND = 820, 220, 40, 120
NONE = "\N{EN DASH}"


def lanes(tree: dict[str, Any]) -> dict[str, Any]:
    """The workflow's events in time order, each in its agent's lane; a handoff spans from
    its sender's lane to its receiver's; the events on the path to the target marked."""
    events = sorted(tree["events"], key=lambda e: e["time"])
    agents: list[str] = []
    for event in events:
        for name in (event["agent"], event.get("handoff", {}).get("to")):
            if name and name not in agents:
                agents.append(name)
    path = set(tree.get("path") or ())
    rows = []
    for event in events:
        lane = agents.index(event["agent"])
        to = event.get("handoff", {}).get("to")
        reach = agents.index(to) if to and event["type"] == "handoff_offered" else lane
        rows.append({
            "event": event, "lane": lane, "from": min(lane, reach), "to": max(lane, reach),
            "rightward": reach >= lane, "on_path": event["event_id"] in path,
        })  # fmt: skip
    return {"agents": agents, "rows": rows, "focused": bool(path)}


def chart(series: list[dict[str, Any]], bucket_s: int) -> dict[str, Any]:
    """Spend per ``bucket_s`` seconds of each agent as SVG polylines on one time axis."""
    if not series:
        return {"lines": [], "width": CHART_W, "height": CHART_H}
    series = [{**row, "t": as_time(row["t"])} for row in series]
    times = sorted({row["t"] for row in series})
    start, end = times[0], times[-1]
    span = max((end - start).total_seconds(), float(bucket_s))
    top = max(row["usd"] for row in series) or 1.0
    by_agent: dict[str, list[tuple[float, float]]] = {}
    for row in series:
        x = PAD + (row["t"] - start).total_seconds() / span * (CHART_W - LEGEND - 2 * PAD)
        y = CHART_H - PAD - row["usd"] / top * (CHART_H - 2 * PAD)
        by_agent.setdefault(row["agent"], []).append((x, y))
    lines = [
        {"agent": agent, "color": PALETTE[i % len(PALETTE)],
         "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points)}
        for i, (agent, points) in enumerate(sorted(by_agent.items()))
    ]  # fmt: skip
    return {
        "lines": lines, "width": CHART_W, "height": CHART_H, "pad": PAD, "top_usd": top,
        "right": CHART_W - LEGEND - PAD,
        "start": start, "end": end, "bucket_s": bucket_s,
    }  # fmt: skip


def money(value: float | None) -> str:
    if value is None:
        return NONE
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:,.4f}"


def ago(when: datetime | str | None, now: datetime | None = None) -> str:
    """``12s``, ``4m05s``, ``2h10m``, ``3d`` between ``when`` and now (either way)."""
    if when is None:
        return NONE
    now = now or datetime.now(UTC)
    seconds = int(abs((now - as_time(when)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def as_time(value: datetime | str) -> datetime:
    """A time of a row, aware (UTC): the ledger's owner sends times as ISO 8601 text."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def when(value: datetime | str | None) -> str:
    """A time as people read it: UTC, to the second."""
    if value is None:
        return NONE
    try:
        return as_time(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return str(value)
