"""The explain tree, built from ledger rows without a database: the essay's case, an alert
on the event it concerns, and a long chain drawn as a flat list."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

from rich.console import Console

from handrail.ledger.explain import build
from handrail.ledger.rows import to_row
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.render import decision_tree
from handrail.schemas import decode
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


def test_explain_of_the_write_shows_the_failed_check_and_the_handoff(tmp_path: Any) -> None:
    rows, write = essay_rows(tmp_path)
    tree = build(rows, write)
    nodes = tree["events"]
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
    assert len(tree["events"]) == len(rows) == 7
    assert [n["caused_by"] for n in tree["events"][1:]] == [
        n["event_id"] for n in tree["events"][:-1]
    ], "a chain: each caused by the one before"
    assert tree["summary"]["handoffs"] == [
        "summarizer -> db-writer: handoff_offered",
        "summarizer -> db-writer: handoff_accepted",
    ]


def alert_rows(on: str, offset: int) -> list[dict[str, Any]]:
    """The alert the rights detector raises on the event ``on`` (and its halt), encoded and
    read back as the ledger holds them."""
    finding = Finding(
        "rights", f"rights:ticket-9:{on}", "db-writer executed db.customers.write [without] a "
        "verdict", "db-writer", "team-platform", "ticket-9", "critical", None, (on,),
        halt="agent",
    )  # fmt: skip
    records = [decode(out.value)[1] for out in FindingEvents("handrail", {}).encode([finding])]
    return [to_row(r, 2, "t", 0, offset + i) for i, r in enumerate(records)]


def test_an_alert_is_shown_on_the_event_it_concerns(tmp_path: Any) -> None:
    rows, write = essay_rows(tmp_path)
    rows += alert_rows(write, len(rows))
    for target in (None, write):  # the alert came after the write: kept when it is the target
        tree = build(rows, target)
        nodes = tree["events"]
        assert "alert_raised" not in {n["type"] for n in nodes}, "not a bare node of its own"
        (written,) = [n for n in nodes if n["event_id"] == write]
        (alert,) = written["alerts"]
        assert (alert["detector"], alert["severity"]) == ("rights", "critical")
        assert alert["summary"].startswith("db-writer executed db.customers.write")
        assert [n["type"] for n in alert["then"]] == ["halt"]
        assert tree["summary"]["alerts"] == [f"critical rights: {alert['summary']}"]
    shown = text(decision_tree(build(rows, write)))
    assert (
        "ALERT critical rights: db-writer executed db.customers.write [without] a verdict" in shown
    )
    assert "HALT agent db-writer" in shown


def chain_rows(tmp: Any, n: int, *, fork: bool = False) -> list[dict[str, Any]]:
    """One agent's decisions, each caused by the one before (a linear chain); with
    ``fork``, the last one is caused by the first instead."""
    settings = Settings(spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"))
    rec = Recorder(settings, AgentIdentity(name="planner", owner="team"))
    with rec.workflow("long"):
        first = rec.decision("step.0", "step 0 of the plan")
        for i in range(1, n):
            cause = first if fork and i == n - 1 else None
            rec.decision(f"step.{i}", f"step {i} of the plan", caused_by=cause)
    rec.close()
    records = sorted(read_all(settings.spool.dir), key=lambda r: r["sequence"])
    return [to_row(r, 2, "t", 0, i) for i, r in enumerate(records)]


def test_a_long_chain_stays_a_flat_readable_list(tmp_path: Any) -> None:
    rows = chain_rows(tmp_path, 40)
    assert all(r["causation_id"] == str(p["event_id"]) for p, r in itertools.pairwise(rows))
    lines = text(decision_tree(build(rows))).splitlines()[1:]
    assert len(lines) == 40, "one line per event: none nested, none wrapped"
    for i, line in enumerate(lines):
        assert line.startswith(("├── ", "└── ")), line
        assert f"#{i + 1} " in line
        assert f"step.{i} " in line
        assert "←" not in line, "each is caused by the line above"


def test_the_json_of_a_chain_of_any_length_is_written_and_read_back(tmp_path: Any) -> None:
    rows = chain_rows(tmp_path, 2_000)  # nested, it passed Python's recursion limit at ~500
    tree = json.loads(json.dumps(build(rows), default=str))
    assert [n["action"] for n in tree["events"]] == [f"step.{i}" for i in range(2_000)]


def test_events_in_a_causation_cycle_are_not_lost(tmp_path: Any) -> None:
    rows = chain_rows(tmp_path, 3)
    rows[0]["causation_id"] = str(rows[2]["event_id"])  # forged: no event is the first
    events = build(rows)["events"]
    assert sorted(n["action"] for n in events) == ["step.0", "step.1", "step.2"]


def test_a_cause_that_is_not_the_line_above_is_named(tmp_path: Any) -> None:
    rows = chain_rows(tmp_path, 4, fork=True)
    lines = text(decision_tree(build(rows))).splitlines()[1:]
    assert [line.split()[1] for line in lines] == ["#1", "#2", "#3", "#4"]
    assert lines[3].endswith("← #1"), lines  # step.3 follows step.0, not step.2


def text(tree: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(tree)
    return console.export_text()
