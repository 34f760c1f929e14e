"""Migrations on the real ClickHouse engine (chdb): all tables, idempotent, rollups live."""

from __future__ import annotations

from pathlib import Path

from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate, migrations


def test_migrations_apply_once_and_rollups_follow_inserts(tmp_path: Path) -> None:
    client = connect(f"chdb://{tmp_path / 'ledger'}")
    try:
        applied = migrate(client)
        assert applied == [name for _, name, _ in migrations()]
        assert migrate(client) == []
        tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
        assert {"events", "quarantine", "cost_by_agent_hour", "handoff_outcomes"} <= tables
        values = [
            "(generateUUIDv4(), 'spend', '2026-11-24 06:00:00', 'a', 1.5, '', '', '', 1)",
            "(generateUUIDv4(), 'spend', '2026-11-24 06:30:00', 'a', 2.0, '', '', '', 2)",
            "(generateUUIDv4(), 'handoff_rejected', '2026-11-24 06:40:00', 'b', 0,"
            " 'h', 'a', 'b', 3)",
        ]
        client.command(
            "INSERT INTO events (event_id, type, time, agent, cost_usd, handoff_id, handoff_from,"
            f" handoff_to, offset) VALUES {', '.join(values)}"
        )
        cost = client.query(
            "SELECT agent, sum(cost_usd), sum(events) FROM cost_by_agent_hour GROUP BY agent"
            " ORDER BY agent"
        ).result_rows
        assert cost == [("a", 3.5, 2), ("b", 0.0, 1)]
        outcomes = client.query(
            "SELECT handoff_from, handoff_to, sum(rejected) FROM handoff_outcomes"
            " GROUP BY handoff_from, handoff_to"
        ).result_rows
        assert outcomes == [("a", "b", 1)]
    finally:
        client.close()
