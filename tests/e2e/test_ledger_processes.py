"""The whole chain with real processes: SDK -> Kafka -> `handrail sink run` (holding an
embedded chdb ledger) -> `handrail explain` / `handrail sql` from another process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.verify import verify
from handrail.producers import Recorder
from handrail.settings import AgentIdentity
from tests.integration.test_kafka_delivery import emit_mixed
from tests.support.kafka_io import kafka_settings

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def env(bootstrap: str, topic: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HANDRAIL_KAFKA__EVENTS_TOPIC": topic,
        "HANDRAIL_LEDGER__DSN": f"chdb://{tmp / 'ledger'}",
        "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp / "checkpoints"),
        "HANDRAIL_LEDGER__CONSUMER_GROUP": f"sink-{topic}",
        "COLUMNS": "200",
    }


def handrail(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args], env=environ, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def sink_log(environ: dict[str, str]) -> Path:
    """Where the sinks' stderr goes (a file: a pipe nobody reads could fill and stop it)."""
    return Path(environ["HANDRAIL_LEDGER__CHECKPOINT_DIR"]).parent / "sink.log"


def start_sink(environ: dict[str, str]) -> subprocess.Popen[str]:
    with sink_log(environ).open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "handrail", "sink", "run"], env=environ,
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )  # fmt: skip


def ledger_count(environ: dict[str, str]) -> int:
    result = handrail(["sql", "SELECT count() AS n FROM events", "--json"], environ)
    return int(json.loads(result.stdout)[0]["n"]) if result.returncode == 0 else -1


def wait_for(
    environ: dict[str, str], n: int, sink: subprocess.Popen[str], timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while (count := ledger_count(environ)) < n:
        if sink.poll() is not None:
            said = sink_log(environ).read_text()[-2000:]
            raise AssertionError(f"the sink exited {sink.returncode}: {said}")
        if time.monotonic() >= deadline:
            said = sink_log(environ).read_text()[-3000:]
            raise AssertionError(f"ledger has {count} of {n} rows; the sink said: {said}")
        time.sleep(1)


def essay(bootstrap: str, topic: str, tmp: Path) -> str:
    settings = kafka_settings(bootstrap, topic, tmp / "spool")
    a = Recorder(settings, AgentIdentity(name="summarizer", owner="team-data"))
    b = Recorder(settings, AgentIdentity(name="db-writer", owner="team-platform"))
    with a.workflow("ticket-essay"):
        a.decision(
            "handoff.db-writer",
            "summary ready",
            checks=[{"name": "has_customer_id", "passed": False, "detail": "none"}],
        )
        ticket = a.handoff_offered("db-writer", "store the summary")
    with b.receive(ticket):
        b.handoff_accepted(ticket)
        b.decision("db.customers.write", "summary looks complete")
        write = b.action_executed("db.customers.write", resource="db.customers")
    assert a.close(30)
    assert b.close(30)
    return write.event_id


def test_explain_and_sql_from_a_second_process_while_the_sink_owns_the_ledger(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    environ = env(kafka_bootstrap, topic, tmp_path)
    write = essay(kafka_bootstrap, topic, tmp_path)
    sink = start_sink(environ)
    try:
        wait_for(environ, 5, sink)
        shown = handrail(["explain", write, "--json"], environ)
        assert shown.returncode == 0, shown.stderr
        tree: dict[str, Any] = json.loads(shown.stdout)
        assert tree["summary"]["failed_checks"] == ["has_customer_id"]
        assert tree["summary"]["handoffs"][0] == "summarizer -> db-writer: handoff_offered"
        assert len(tree["path"]) == 5
        as_tree = handrail(["explain", write], environ)
        assert "failed: has_customer_id" in as_tree.stdout
        refused = handrail(["sql", "DROP TABLE events"], environ)
        assert refused.returncode == 1
        assert "only a SELECT may be run on the ledger" in refused.stdout
        param = handrail(
            ["sql", "SELECT agent FROM events WHERE action = {a:String} AND type = {t:String}",
             "-p", "a=db.customers.write", "-p", "t=action_executed", "--json"], environ,
        )  # fmt: skip
        assert json.loads(param.stdout) == [{"agent": "db-writer"}]
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(60)
    verified = handrail(["ledger", "verify"], environ)
    assert verified.returncode == 0, verified.stdout


def test_sink_killed_three_times_loses_and_repeats_nothing(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    environ = env(kafka_bootstrap, topic, tmp_path)
    settings = kafka_settings(kafka_bootstrap, topic, tmp_path / "spool")
    with Recorder(settings, AgentIdentity(name="bulk")) as rec:
        ids = emit_mixed(rec, 100_000, workflows=50, seed=11)
        assert rec.close(120)
    rng = random.Random(5)
    for _ in range(3):  # kill -9 at a random moment while it writes
        sink = start_sink(environ)
        time.sleep(rng.uniform(3.0, 8.0))
        sink.send_signal(signal.SIGKILL)
        sink.wait()
    sink = start_sink(environ)
    try:
        wait_for(environ, len(ids), sink, timeout=400)
        time.sleep(2)  # anything extra would show up now
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(60)
    client = connect(environ["HANDRAIL_LEDGER__DSN"])
    try:
        got = [str(r[0]) for r in client.query("SELECT event_id FROM events").result_rows]
        assert len(got) == len(ids), f"{len(got) - len(ids):+d} rows"
        assert set(got) == set(ids)
        report = verify(client, Checkpoints(Path(environ["HANDRAIL_LEDGER__CHECKPOINT_DIR"])))
        assert report.ok, report.broken
    finally:
        client.close()


def test_a_sink_started_after_a_crash_between_an_inserts_parts_rebuilds_the_rollups(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    environ = env(kafka_bootstrap, topic, tmp_path)
    essay(kafka_bootstrap, topic, tmp_path)
    first = handrail(["sink", "run", "--idle-exit", "2"], environ)
    assert first.returncode == 0, first.stderr
    client = connect(environ["HANDRAIL_LEDGER__DSN"])
    try:  # what a kill after the events part and before the rollups' parts leaves
        client.command("TRUNCATE TABLE cost_by_agent_hour")
        client.command("TRUNCATE TABLE handoff_outcomes")
    finally:
        client.close()
    assert handrail(["ledger", "verify"], environ).returncode == 1
    again = handrail(["sink", "run", "--idle-exit", "2"], environ)
    assert again.returncode == 0, again.stderr
    assert "rebuilding the rollups from events" in again.stderr
    verified = handrail(["ledger", "verify"], environ)
    assert verified.returncode == 0, verified.stdout
