"""``handrail explain`` and ``handrail sql`` as a newcomer meets them, on a real ledger
(chdb) read by the command in a process of its own: a handoff's and an approval's id are
explained (the ids an alert or a waiting agent shows), the alert appears on the event it
concerns, a table never cuts an id, and with no ledger the commands say so and create
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.schemas import EventRecord, decode
from handrail.schemas.models import ApprovalRequested
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.support.ledger_inserts import insert_records


def _records(tmp: Path) -> tuple[list[EventRecord], dict[str, str]]:
    """A handoff nobody picked up (and the stalled alert on its offer), and an approval
    request: the records and their ids."""
    settings = Settings(spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"))
    intake = Recorder(settings, AgentIdentity(name="intake", owner="team-support"))
    with intake.workflow("ticket-stalled"):
        intake.decision("route.summarize", "a customer asks about a parcel")
        offer = intake.handoff_offered("summarizer", "summarize")
        asked = intake.record(ApprovalRequested(approval_id="ap-7", action="api.search",
                                                reason="over the cap", cost_usd=7.8))  # fmt: skip
    intake.close()
    records = sorted(read_all(settings.spool.dir), key=lambda r: r["time"])
    stalled = Finding(
        "handoffs", f"handoff-stalled:intake->summarizer:{offer.handoff_id}",
        f"handoff {offer.handoff_id} on intake->summarizer (summarize) was neither accepted "
        "nor rejected within 6s", "summarizer", "team-support", "ticket-stalled", "warning",
        None, (offer.offer_event_id,),
    )  # fmt: skip
    records += [decode(o.value)[1] for o in FindingEvents("handrail", {}).encode([stalled])]
    ids = {"handoff": offer.handoff_id, "offer": offer.offer_event_id,
           "approval": "ap-7", "asked": asked.event_id}  # fmt: skip
    return records, ids


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A ledger written and closed: the commands open it themselves."""
    tmp = tmp_path_factory.mktemp("explain")
    records, ids = _records(tmp)
    client = connect(f"chdb://{tmp / 'ledger'}")
    try:
        migrate(client)
        insert_records(client, records)
    finally:
        client.close()
    return tmp, ids


def handrail(args: list[str], cwd: Path, columns: int = 100, **env: str) -> Any:
    """``handrail ARGS`` in a process of its own, from ``cwd``, with only the settings given."""
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
               "COLUMNS": str(columns), **env}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "handrail", *args], env=environ, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def dsn(tmp: Path) -> dict[str, str]:
    return {"HANDRAIL_LEDGER__DSN": f"chdb://{tmp / 'ledger'}"}


@pytest.mark.parametrize("which", ["handoff", "approval"])
def test_a_handoff_or_approval_id_explains_its_latest_event(
    ledger: tuple[Path, dict[str, str]], which: str
) -> None:
    tmp, ids = ledger
    shown = handrail(["explain", ids[which], "--json"], tmp, **dsn(tmp))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    tree = json.loads(shown.stdout)
    assert tree["workflow_id"] == "ticket-stalled"
    assert tree["target"] == (ids["offer"] if which == "handoff" else ids["asked"])
    assert tree["path"][-1] == tree["target"]


def test_the_alert_is_shown_on_the_offer_it_concerns(ledger: tuple[Path, dict[str, str]]) -> None:
    tmp, ids = ledger
    shown = handrail(["explain", ids["handoff"]], tmp, columns=200, **dsn(tmp))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    offer = next(i for i, line in enumerate(lines) if "handoff_offered" in line)
    assert "ALERT warning handoffs: handoff" in lines[offer + 1]
    assert "within 6s" in lines[offer + 1]


@pytest.mark.parametrize("columns", [60, 200])
def test_sql_never_cuts_an_id(ledger: tuple[Path, dict[str, str]], columns: int) -> None:
    tmp, _ = ledger
    sql = "SELECT event_id, workflow_id, session_id, type, agent, time FROM events"
    shown = handrail(["sql", sql], tmp, columns=columns, **dsn(tmp))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    as_json = handrail(["sql", sql, "--json"], tmp, **dsn(tmp))
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    rows = json.loads(as_json.stdout)
    assert len(rows) == 4  # the decision, the offer, the request, the alert
    for row in rows:
        assert row["event_id"] in shown.stdout
        assert row["session_id"] in shown.stdout
    assert "…" not in shown.stdout


@pytest.mark.parametrize(
    "args",
    [["explain", "ticket-1"], ["sql", "SELECT 1"], ["ledger", "verify"]],
    ids=["explain", "sql", "verify"],
)
def test_no_ledger_is_a_clear_message_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    shown = handrail(args, tmp_path)  # the default ledger: .handrail/ledger, from here
    assert shown.returncode == 1
    assert f"no ledger at {tmp_path / '.handrail' / 'ledger'}" in shown.stderr
    assert "Exception" not in shown.stdout + shown.stderr
    assert list(tmp_path.iterdir()) == []
