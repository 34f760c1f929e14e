"""The explain tree, built from ledger rows without a database: the essay's case."""

from __future__ import annotations

from typing import Any

from handrail.ledger.explain import build
from handrail.ledger.rows import to_row
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.settings import AgentIdentity, Settings, SpoolSettings


def essay_rows(tmp: Any) -> tuple[list[dict[str, Any]], str]:
    """Summarizer's summary fails a check, is handed on, the writer writes anyway."""
    settings = Settings(spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"))
    a = Recorder(settings, AgentIdentity(name="summarizer", owner="team-data"))
    b = Recorder(settings, AgentIdentity(name="db-writer", owner="team-platform"))
    with a.workflow("ticket-9"):
        a.spend(0.04, "openai", "gpt-4o")
        a.decision("handoff.db-writer", "summary ready",
                   checks=[{"name": "has_customer_id", "passed": False}])  # fmt: skip
        ticket = a.handoff_offered("db-writer", "store the summary")
    with b.receive(ticket):
        b.handoff_accepted(ticket)
        b.decision("db.customers.write", "summary looks complete", resource="db.customers")
        write = b.action_executed("db.customers.write", resource="db.customers")
        b.heartbeat()
    a.close()
    b.close()
    records = sorted(read_all(settings.spool.dir), key=lambda r: r["time"])
    return [to_row(r, 2, "t", 0, i) for i, r in enumerate(records)], write.event_id


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for node in nodes for n in (node, *walk(node["children"]))]


def test_explain_of_the_write_shows_the_failed_check_and_the_handoff(tmp_path: Any) -> None:
    rows, write = essay_rows(tmp_path)
    tree = build(rows, write)
    nodes = walk(tree["roots"])
    on_path = [n for n in nodes if n.get("on_path")]
    assert [(n["agent"], n["type"]) for n in on_path] == [
        ("summarizer", "spend"),
        ("summarizer", "decision_made"),
        ("summarizer", "handoff_offered"),
        ("db-writer", "handoff_accepted"),
        ("db-writer", "decision_made"),
        ("db-writer", "action_executed"),
    ]
    assert on_path[1]["checks"] == {"passed": [], "failed": ["has_customer_id"]}
    assert on_path[2]["handoff"] == {"id": on_path[2]["handoff"]["id"], "from": "summarizer",
                                     "to": "db-writer"}  # fmt: skip
    assert on_path[4]["reason"] == "summary looks complete"
    assert tree["path"][-1] == write
    assert tree["summary"]["failed_checks"] == ["has_customer_id"]
    assert tree["summary"]["cost_usd"] == 0.04
    assert "heartbeat" not in {n["type"] for n in nodes}, "events after the target are left out"


def test_explain_of_the_workflow_shows_everything(tmp_path: Any) -> None:
    rows, _ = essay_rows(tmp_path)
    tree = build(rows)
    assert tree["path"] == []
    assert len(walk(tree["roots"])) == len(rows) == 7
    assert tree["summary"]["handoffs"] == [
        "summarizer -> db-writer: handoff_offered",
        "summarizer -> db-writer: handoff_accepted",
    ]
