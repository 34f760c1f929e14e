"""The rollups recomputed from events and compared with their tables, on a real ledger (chdb).

The ledger holds events of every type written as the sink writes them (ClickHouse decodes
one partition, Python the other), in several inserts per rollup key (the
SummingMergeTree has not merged them), plus spends with NaN and infinite costs.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.rollups import RollupFinding, check, rollups
from handrail.schemas import encode
from tests.support.ledger_inserts import insert
from tests.support.samples import NOW, SAMPLE_FIELDS, event_record

TOPIC = "handrail.events"


def _alter(client: Any, statement: str) -> None:
    """Run a mutation to its end (a mutation is a merge: merges are let run again)."""
    for rollup in rollups():
        client.command(f"SYSTEM START MERGES {rollup.table}")
    client.command(statement, settings={"mutations_sync": 2})


def _write(client: Any, partition: int, records: list[Any], careful: bool) -> None:
    """One insert per record, as the sink writes them (careful: decoded in Python)."""
    head = GENESIS
    for offset, record in enumerate(records):
        items = build(TOPIC, partition, [(offset, b"k", encode(record))], careful=careful)
        head = chain([row for _, row in items], head)
        insert(client, TOPIC, {partition: items})


def _odd_costs(client: Any) -> None:
    """Spends whose cost is NaN or infinite, straight into ``events`` (the materialized
    views fill the rollups from them as from any row)."""
    columns = ["event_id", "type", "time", "agent", "cost_usd", "topic", "partition", "offset"]
    costs = [math.nan, 2.0, math.inf, 1.0, -math.inf, math.inf]
    rows = [
        [uuid.uuid4(), "spend", NOW + timedelta(hours=5), agent, cost, TOPIC, 9, offset]
        for offset, (agent, cost) in enumerate(zip("nniimm", costs, strict=True))
    ]
    for row in rows:  # one insert each: one rollup row each
        client.insert("events", [row], column_names=columns)


@pytest.fixture
def ledger(chdb_ledger: Any) -> Any:
    for rollup in rollups():  # so that the rollups keep a row per insert
        chdb_ledger.command(f"SYSTEM STOP MERGES {rollup.table}")
    records = []
    for i, kind in enumerate(SAMPLE_FIELDS):
        record = event_record(kind, sequence=i + 1, agent="ab"[i % 2])
        record["time"] = NOW + timedelta(hours=i % 3, days=i % 2)
        records.append(record)
    _write(chdb_ledger, 0, records, careful=False)
    spends = [
        event_record("spend", sequence=i + 1, agent="c", usd=usd)
        for i, usd in enumerate([1.5, 0.1, 0.2, 1e-12])
    ]
    _write(chdb_ledger, 1, spends, careful=True)
    _odd_costs(chdb_ledger)
    blocks = chdb_ledger.query("SELECT count() FROM cost_by_agent_hour WHERE agent = 'c'")
    assert blocks.result_rows[0][0] == 4  # not merged: one row per insert
    return chdb_ledger


def test_the_rollups_are_the_views_of_the_migrations(chdb_ledger: Any) -> None:
    tables = {r.table for r in rollups()}
    assert tables == {"cost_by_agent_hour", "handoff_outcomes"}
    summing = chdb_ledger.query(
        "SELECT name FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%SummingMergeTree'"
    ).result_rows
    assert {name for (name,) in summing} == tables
    assert all(r.select.startswith("SELECT ") and "FROM events" in r.select for r in rollups())


def test_an_untouched_ledger_has_no_findings(ledger: Any) -> None:
    nan = ledger.query("SELECT cost_usd FROM cost_by_agent_hour WHERE agent = 'n'").result_rows
    assert any(math.isnan(cost) for (cost,) in nan)
    assert check(ledger) == []
    for rollup in rollups():
        ledger.command(f"SYSTEM START MERGES {rollup.table}")
        ledger.command(f"OPTIMIZE TABLE {rollup.table} FINAL")
    assert (
        ledger.query("SELECT count() FROM cost_by_agent_hour WHERE agent = 'c'").result_rows[0][0]
        == 1
    )
    assert check(ledger) == []


def test_an_edited_rollup_row_is_found(ledger: Any) -> None:
    _alter(
        ledger, "ALTER TABLE cost_by_agent_hour UPDATE cost_usd = cost_usd * 1000 WHERE agent = 'c'"
    )
    [finding] = check(ledger)
    assert finding.table == "cost_by_agent_hour"
    assert dict(finding.key)["agent"] == "c"
    assert finding.what.startswith("cost_usd: the rollup holds 1800.0")
    assert "events:" not in finding.what  # the count is right


def test_a_slightly_edited_cost_is_found(ledger: Any) -> None:
    _alter(
        ledger,
        "ALTER TABLE cost_by_agent_hour UPDATE cost_usd = cost_usd + 0.000001 WHERE agent = 'c'",
    )
    assert [dict(f.key)["agent"] for f in check(ledger)] == ["c"]


def test_an_edited_nan_or_infinite_cost_is_found(ledger: Any) -> None:
    _alter(
        ledger, "ALTER TABLE cost_by_agent_hour UPDATE cost_usd = 5 WHERE NOT isFinite(cost_usd)"
    )
    assert [dict(f.key)["agent"] for f in check(ledger)] == ["i", "m", "n"]


def test_an_edited_handoff_count_is_found(ledger: Any) -> None:
    _alter(ledger, "ALTER TABLE handoff_outcomes UPDATE rejected = 0 WHERE rejected > 0")
    [finding] = check(ledger)
    assert finding.table == "handoff_outcomes"
    assert finding.what == "rejected: the rollup holds 0, the events give 1"


def test_a_row_inserted_into_a_rollup_is_found(ledger: Any) -> None:
    ledger.command("INSERT INTO cost_by_agent_hour VALUES ('c', '2026-11-24 06:00:00', 0.5, 0)")
    ledger.command("INSERT INTO cost_by_agent_hour VALUES ('ghost', '2026-01-01 00:00:00', 9, 3)")
    findings = check(ledger)
    assert [dict(f.key)["agent"] for f in findings] == ["c", "ghost"]
    assert findings[1].what == ("no event gives this key; the rollup holds cost_usd=9.0, events=3")
    assert "ghost" in str(findings[1])


def test_a_deleted_rollup_row_is_found(ledger: Any) -> None:
    _alter(ledger, "ALTER TABLE handoff_outcomes DELETE WHERE accepted > 0")
    findings = check(ledger)
    assert findings == [
        RollupFinding(
            "handoff_outcomes",
            (
                ("handoff_from", "summarizer"),
                ("handoff_to", "b"),
                ("day", NOW.date() + timedelta(days=1)),
            ),
            "missing from the rollup; the events give offered=0, accepted=1, rejected=0",
        )
    ]


def test_a_deleted_rollup_table_is_found(ledger: Any) -> None:
    ledger.command("DROP TABLE handoff_outcomes_mv")
    ledger.command("DROP TABLE handoff_outcomes")
    assert [str(f) for f in check(ledger)] == ["handoff_outcomes (): the rollup table is missing"]


def test_a_retried_insert_is_counted_once_in_the_rollups(chdb_ledger: Any) -> None:
    """The sink retries an insert with the same token (a crash before it knew the insert
    had landed): events drop the copy, and so must the rollups, or verify would report an
    untouched ledger."""
    records = [event_record(kind, sequence=i + 1) for i, kind in enumerate(SAMPLE_FIELDS)]
    for _ in range(2):
        _write(chdb_ledger, 0, records, careful=False)
        _write(chdb_ledger, 1, records, careful=True)
    assert check(chdb_ledger) == []
