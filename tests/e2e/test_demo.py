"""The README's first command, headless: ``handrail demo`` on the embedded default (no
Kafka, no Java: a PATH without them) raises every listed failure's alert once, halts
the retry storm, and leaves a ledger holding every agent event exactly once; the same
demo through a real Kafka broker raises the same alerts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handrail.demo.show import ALERTS_SQL, EXPECTED
from handrail.ledger.reader import open_reader

pytestmark = pytest.mark.timeout(420)


def run_demo(base: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "COLUMNS": "120",
        "HOME": os.environ.get("HOME", "/tmp"),
    }  # fmt: skip  - no HANDRAIL_*, no Java
    command = [sys.executable, "-m", "handrail", "demo", "--dir", str(base), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=400,
                          check=False)  # fmt: skip


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


def test_the_demo_through_kafka_raises_the_same_alerts(
    embedded: tuple[Path, subprocess.CompletedProcess[str]], kafka_bootstrap: str, tmp_path: Path
) -> None:
    result = run_demo(tmp_path / "kafka", "--kafka", kafka_bootstrap)
    log = (tmp_path / "kafka" / "run.log").read_text()[-4000:]  # the sink's and worker's
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + log
    assert alert_subjects(tmp_path / "kafka") == alert_subjects(embedded[0])
