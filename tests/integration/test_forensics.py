"""Every question of docs/forensics.md, run on a real ledger (chdb, no Kafka).

The ledger holds the demo workload (4 customer-ticket workflows, recorded through the SDK
into the spool, moved to fixed hours so the documented parameters hold) and a few
synthetic events of a misbehaving agent: a database write and a denied payment executed
without approval, an operation retried three times, a lost event (a sequence gap), an
unanswered handoff, an agent that went silent, plus one quarantined message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.ledger.reader import ClientReader
from handrail.producers.spool import read_all
from handrail.schemas import Event, EventRecord, to_record
from handrail.settings import ReadSettings, Settings, SpoolSettings
from tests.support import ticket_workflows
from tests.support.ledger_inserts import insert_records

DOC = Path(__file__).resolve().parents[2] / "docs" / "forensics.md"
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""ticket-N happens at BASE + (N-1) hours; the synthetic ops-bot at 08:00 the same day."""
OPS_SESSION = "0b5b0700000000000000000000000000"
OPS_AGENT = {"name": "ops-bot", "version": "0.3", "owner": "team-ops"}

_SQL = re.compile(r"^```sql\n(.*?)^```\n<!-- params: (.*?) -->$", re.MULTILINE | re.DOTALL)


def doc_queries() -> list[tuple[str, str, dict[str, Any]]]:
    """(question, sql, params) of every ``## question`` of docs/forensics.md, in order."""
    found = []
    for section in DOC.read_text().split("\n## ")[1:]:
        title = section.splitlines()[0].strip()
        blocks = _SQL.findall(section)
        assert len(blocks) == 1, f"{title!r}: one ```sql block and its params comment"
        assert section.count("```sql") == 1, f"{title!r}: one ```sql block"
        sql, params = blocks[0]
        found.append((title, sql, json.loads(params)))
    return found


def _demo_records(tmp_path: Path) -> list[EventRecord]:
    settings = Settings(
        spool=SpoolSettings(dir=tmp_path / "spool", control_log=tmp_path / "control.log")
    )
    workflows = ticket_workflows.run(settings, workflows=4)
    assert workflows == ["ticket-1", "ticket-2", "ticket-3", "ticket-4"]
    records = list(read_all(tmp_path / "spool"))
    start = min(r["time"] for r in records)
    for record in records:  # workflows ran one after the other: the order is kept
        n = int(record["workflow_id"].removeprefix("ticket-"))
        record["time"] = BASE + timedelta(hours=n - 1) + (record["time"] - start)
    return records


def _ops(sequence: int, minute: float, payload: dict[str, Any], cause: int | None) -> Event:
    return Event.model_validate(
        {
            "event_id": uuid.UUID(f"0b5b0700-0000-8000-8000-{sequence:012d}"),
            "time": BASE - timedelta(hours=1) + timedelta(minutes=minute),
            "workflow_id": "ticket-99",
            "causation_id": None if cause is None else f"0b5b0700-0000-8000-8000-{cause:012d}",
            "agent": OPS_AGENT,
            "session_id": OPS_SESSION,
            "sequence": sequence,
            "payload": payload,
        }
    )


def _synthetic_records() -> list[EventRecord]:
    """ops-bot in workflow ticket-99: everything the demo does right, done wrong."""
    write = "db.orders.write"
    events = [
        _ops(1, 0.0, {"type": "decision_made", "action": write,
                      "rationale": "customer asked for a refund of $480",
                      "checks": [{"name": "has_customer_id", "passed": True},
                                 {"name": "amount_within_limit", "passed": False,
                                  "detail": "480 > 100"}]}, None),
        _ops(2, 0.1, {"type": "action_failed", "action": write, "error_type": "Timeout",
                      "error_message": "orders db timed out", "retryable": True}, 1),
        _ops(3, 0.2, {"type": "retry", "action": write, "operation_id": "ord-77",
                      "attempt": 1, "reason": "timeout"}, 2),
        _ops(4, 0.4, {"type": "retry", "action": write, "operation_id": "ord-77",
                      "attempt": 2, "reason": "timeout"}, 3),
        _ops(5, 0.8, {"type": "retry", "action": write, "operation_id": "ord-77",
                      "attempt": 3, "reason": "timeout"}, 4),
        _ops(6, 0.9, {"type": "spend", "usd": 1.25, "provider": "openai", "model": "gpt-4o",
                      "action": write}, 5),
        _ops(7, 1.0, {"type": "action_executed", "action": write, "resource": "db.orders",
                      "output_ref": "db://orders/77"}, 6),
        _ops(8, 2.0, {"type": "policy_verdict", "action": "payments.refund", "effect": "deny",
                      "rule": "refunds-over-100-denied", "reason": "480 > 100"}, 7),
        # sequence 9 is lost: the gap the ledger must show
        _ops(10, 3.0, {"type": "action_executed", "action": "payments.refund",
                       "resource": "stripe"}, 8),
        _ops(11, 4.0, {"type": "handoff_offered", "handoff_id": "h-ops-review",
                       "to_agent": "reviewer", "task": "review the refund"}, 10),
        _ops(12, 5.0, {"type": "heartbeat", "status": "idle"}, None),
    ]  # fmt: skip
    return [to_record(e) for e in events]


def _write(client: Any, records: list[EventRecord]) -> int:
    """Write the records to the ledger as the sink does (ClickHouse decodes them)."""
    insert_records(client, sorted(records, key=lambda r: r["time"]))  # the topic's order
    return len(records)


@pytest.fixture(scope="module")
def ledger_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('forensics') / 'ledger'}"


@pytest.fixture(scope="module")
def ledger(ledger_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("records")
    client = connect(ledger_dsn)
    try:
        migrate(client)
        n = _write(client, _demo_records(tmp) + _synthetic_records())
        client.insert(
            "quarantine",
            [["handrail.events", 0, n, b"ticket-7".hex(), b"not avro".hex(),
              "BadHeaderError", "no single-object marker (C3 01)",
              datetime(2026, 3, 2, 10, 30, tzinfo=UTC)]],
            column_names=["topic", "partition", "offset", "key_hex", "raw_hex", "error_type",
                          "error", "received_at"],
        )  # fmt: skip
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def results(ledger: Any, ledger_dsn: str) -> dict[str, list[dict[str, Any]]]:
    """Every documented question, answered as ``handrail sql`` runs it: through the
    forensic reader's checks and limits, on a client of its own."""
    reader = ClientReader(ledger_dsn, ReadSettings())
    try:
        return {question: reader.query(sql, params) for question, sql, params in doc_queries()}
    finally:
        reader.close()


def find(results: dict[str, list[dict[str, Any]]], words: str) -> list[dict[str, Any]]:
    """The answer of the one question whose title contains ``words``."""
    matches = [q for q in results if words.lower() in q.lower()]
    assert len(matches) == 1, (words, list(results))
    return results[matches[0]]


def test_every_documented_question_has_an_answer(
    results: dict[str, list[dict[str, Any]]],
) -> None:
    assert len(results) >= 12
    empty = [question for question, rows in results.items() if not rows]
    assert not empty, f"questions with no answer: {empty}"


def test_answers_say_what_happened(results: dict[str, list[dict[str, Any]]]) -> None:
    r = results

    why = find(r, "why was this row written")
    assert why[0]["type"] == "action_executed"
    assert [row["sequence"] for row in why] == [7, 6, 5, 4, 3, 2, 1]
    assert why[-1]["type"] == "decision_made"
    assert why[-1]["checks_failed"] == ["amount_within_limit"]

    unapproved = find(r, "database writes had no approval")
    assert [(v["workflow_id"], v["action"]) for v in unapproved] == [
        ("ticket-99", "db.orders.write")
    ]  # the demo's approved db.customers.write (ticket-1, ticket-3) is not listed

    violations = find(r, "broke a policy")
    assert {(v["action"], v["violation"]) for v in violations} == {
        ("payments.refund", "executed_despite_deny"),
        ("db.orders.write", "db_write_without_approval"),
    }

    edges = {(e["handoff_from"], e["handoff_to"]): e for e in find(r, "handoff edges reject")}
    rejected = edges["summarizer", "analyst"]
    assert (rejected["offered"], rejected["accepted"], rejected["rejected"]) == (4, 2, 2)
    assert rejected["rejection_rate"] == 0.5
    assert edges["intake", "summarizer"]["rejected"] == 0

    unanswered = find(r, "never answered")
    assert [(h["handoff_from"], h["handoff_to"]) for h in unanswered] == [("ops-bot", "reviewer")]

    retried = find(r, "retried more than twice")
    assert [(o["operation_id"], o["retries"], o["max_attempt"]) for o in retried] == [
        ("ord-77", 3, 3)
    ]  # the demo's operations retried once

    gaps = find(r, "sequence gaps")
    assert [(g["agent"], g["first_missing"], g["last_missing"]) for g in gaps] == [
        ("ops-bot", 9, 9)
    ]

    silent = {s["agent"] for s in find(r, "went silent")}
    assert "ops-bot" in silent
    assert "intake" not in silent

    summarizer = find(r, "what did the summarizer decide")
    assert [(d["action"], d["checks_failed"]) for d in summarizer] == [
        ("handoff.analyst", ["has_customer_id"])
    ]

    anyway = {(d["workflow_id"], d["action"]) for d in find(r, "failed a check and")}
    assert anyway == {
        ("ticket-2", "handoff.analyst"),
        ("ticket-4", "handoff.analyst"),
        ("ticket-99", "db.orders.write"),
    }

    hourly = find(r, "spend per hour")
    # ticket-2 and ticket-4 (10:00, 12:00) were rejected before the analyst spent anything
    per_hour = [(h["hour"].hour, round(h["cost_usd"], 2)) for h in hourly]
    assert per_hour == [(9, 0.31), (10, 0.0), (11, 0.31), (12, 0.0)]

    top = find(r, "cost per workflow")
    assert top[0]["workflow_id"] == "ticket-99"
    assert round(top[0]["cost_usd"], 3) == 1.25

    approvals = find(r, "who approved what")
    assert {(a["workflow_id"], a["action"], a["approver"]) for a in approvals} == {
        ("ticket-1", "db.customers.write", "alice@example.com"),
        ("ticket-3", "db.customers.write", "alice@example.com"),
    }

    quarantined = find(r, "quarantined")
    assert quarantined[0]["error_type"] == "BadHeaderError"
