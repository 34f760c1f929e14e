"""The README's first command, headless: ``handrail demo`` on the embedded default (no
Kafka, no Java: a PATH without them) raises every listed failure's alert once, halts
the retry storm, and leaves a ledger holding every agent event exactly once; the commands
it prints at the end work as printed, pasted in a shell elsewhere with ``handrail`` not on
PATH; the same demo through a real Kafka broker raises the same alerts."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from handrail.demo.show import ALERTS_SQL, EXPECTED
from handrail.ledger.reader import open_reader

pytestmark = pytest.mark.timeout(420)


def run_demo(base: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The demo with ``--dir`` relative to its working directory (as a user runs it)."""
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "COLUMNS": "120",
        "HOME": os.environ.get("HOME", "/tmp"),
    }  # fmt: skip  - no HANDRAIL_*, no Java
    command = [sys.executable, "-m", "handrail", "demo", "--dir", base.name, *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=400,
                          check=False, cwd=base.parent)  # fmt: skip


def query(base: Path, sql: str) -> list[dict[str, Any]]:
    reader = open_reader(f"chdb://{base / 'ledger'}")
    try:
        return reader.query(sql, {})
    finally:
        reader.close()


def alert_subjects(base: Path) -> set[str]:
    """Each raised alert as detector:agent (without ids that differ between runs)."""
    rows = query(base, ALERTS_SQL)
    return {":".join(r["dedup_key"].split(":")[:2]) for r in rows if r["type"] == "alert_raised"}


@pytest.fixture(scope="module")
def embedded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    base = tmp_path_factory.mktemp("demo") / "embedded"
    return base, run_demo(base)


def test_the_demo_raises_every_listed_alert_once(
    embedded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    base, result = embedded
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = query(base, ALERTS_SQL)
    raised = [r["dedup_key"] for r in rows if r["type"] == "alert_raised"]
    assert len(raised) == len(set(raised))  # none repeated
    assert {key.split(":")[0] for key in raised} >= set(EXPECTED)
    assert "retry-storm:payments:charge-7781" in raised
    assert "spend-cap:researcher:api.search" in raised
    assert "silence:reporter" in raised
    assert any(key.startswith("rights:ticket-bad-summary:") for key in raised)
    halts = [r["reason"] for r in rows if r["type"] == "halt"]
    assert len(halts) == 2  # the storming operation and the agent over its cap
    assert "ALERT" in result.stdout
    assert "retry 6 refused" in result.stdout or "refused: operation charge-7781" in result.stdout
    assert "customer_id_matches_thread" in result.stdout  # the explanation's failed check


def test_the_ledger_holds_every_agent_event_exactly_once(
    embedded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    base, _ = embedded
    (totals,) = query(base, "SELECT count() AS n, uniqExact(event_id) AS ids FROM events")
    assert totals["n"] == totals["ids"] > 1000
    sessions = query(base, """
        SELECT session_id, any(agent) AS agent, count() AS n, max(sequence) AS last
        FROM events GROUP BY session_id""")  # fmt: skip
    gaps = [s for s in sessions if s["n"] != s["last"]]
    assert not gaps  # every session's sequence is whole: nothing lost
    agents = {s["agent"] for s in sessions}
    assert {"intake", "summarizer", "analyst", "db-writer", "payments"} <= agents


def test_the_commands_the_demo_prints_work_as_printed(
    embedded: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    _, result = embedded
    lines = [line.strip() for line in result.stdout.splitlines()
             if line.startswith("  HANDRAIL_LEDGER__DSN=")]  # fmt: skip
    assert len(lines) == 5, result.stdout[-3000:]
    explained = {shlex.split(line)[-1]: line for line in lines if " explain " in line}
    event_ids = [ref for ref in explained if ref.count("-") == 4 and uuid.UUID(ref)]
    assert len(event_ids) == 1, explained  # the bad write's event, by its id
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "COLUMNS": "200"}
    shown = {}
    for line in lines:  # pasted into a shell elsewhere, handrail not on PATH
        done = subprocess.run(["bash", "-c", line], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
        shown[line] = done.stdout
    write = shown[explained[event_ids[0]]]
    assert f"the path to event {event_ids[0]} is highlighted" in write
    assert "ALERT critical rights: db-writer executed db.customers.write" in write
    (handoff,) = [ref for ref in explained if len(ref) == 32]  # the stalled one's id
    assert (
        f"ALERT warning handoffs: handoff {handoff} on intake->summarizer"
        in shown[explained[handoff]]
    )
    assert "ledger intact" in shown[lines[-1]]
    assert list(elsewhere.iterdir()) == [], "nothing made where the commands ran"


def test_the_demo_through_kafka_raises_the_same_alerts(
    embedded: tuple[Path, subprocess.CompletedProcess[str]], kafka_bootstrap: str, tmp_path: Path
) -> None:
    result = run_demo(tmp_path / "kafka", "--kafka", kafka_bootstrap)
    log = (tmp_path / "kafka" / "run.log").read_text()[-4000:]  # the sink's and worker's
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + log
    assert alert_subjects(tmp_path / "kafka") == alert_subjects(embedded[0])
