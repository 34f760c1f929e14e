"""``handrail run`` on the embedded default, with real processes, real files and a real
chdb ledger: agents in another process record a workload with failures into the spool
while the pipeline ingests it. Every event reaches the ledger once, the expected alerts
are raised (in the ledger) and paged, halts reach the control log, ``explain`` works from
another process; killed with ``kill -9`` twice mid-workload, nothing is lost or repeated.

Run as a script, this module is the agents' process:
``python -m tests.integration.test_embedded_run SPOOL CONTROL_LOG OUT_JSON SECONDS``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handrail.control.log import ControlLog
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import open_reader
from handrail.ledger.verify import verify
from handrail.producers import HandoffTicket, Recorder
from handrail.schemas import decode, event_type
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.support import normal_workload
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(400)
ROOT = Path(__file__).resolve().parents[2]
RULES = {
    "defaults": {
        "retry": {"max_retries": 3, "window_s": 3, "agent_max_retries": 100_000},
        "spend": {"cap_clear_s": 3, "drift_factor": 1_000},
        "handoff": {"deadline_s": 3},
        "rights": {"grace_s": 1},
        "bursts": {"max_errors": 1_000, "max_escalations": 1_000},
    }
}
STORMS = 5


# -- the agents' process ---------------------------------------------------------------------


class Ids:
    """A recorder that notes the id of every event it records."""

    def __init__(self, rec: Recorder, ids: list[str]) -> None:
        self._rec, self._ids = rec, ids

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._rec, name)
        if not callable(attr) or name in ("workflow", "within", "receive", "stats"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, HandoffTicket):
                self._ids.append(result.offer_event_id)
            elif hasattr(result, "event_id"):
                self._ids.append(result.event_id)
            return result

        return call


def agents(spool: Path, control_log: Path, out: Path, seconds: float) -> None:
    """A steady normal workload (about 300 events/s) with failures on a timeline: retry
    storms, database writes without a verdict, a handoff nobody answers, a call over the
    spend cap."""
    settings = Settings(spool=SpoolSettings(dir=spool, control_log=control_log))
    ids: list[str] = []

    def agent(name: str) -> Any:
        return Ids(Recorder(settings, AgentIdentity(name=name, owner=f"team-{name}")), ids)

    normal = {name: agent(name) for name in normal_workload.AGENTS}
    payer, writer, intake, buyer = (
        agent("payer"),
        agent("rogue-writer"),
        agent("front"),
        agent("buyer"),
    )
    timeline: list[tuple[float, Callable[[], object]]] = [
        *((1.0 + k * seconds / (STORMS + 1), lambda k=k: storm(payer, k)) for k in range(STORMS)),
        (2.0, lambda: unverified_write(writer, "wf-write-0")),
        (3.0, lambda: never_answered(intake)),
        (seconds * 0.5 + 0.1, lambda: buyer.spend(7.5, "openai", "o3", action="report")),
        (seconds * 0.6 + 0.2, lambda: unverified_write(writer, "wf-write-1")),
    ]
    start, i = time.monotonic(), 0
    while (now := time.monotonic() - start) < seconds:
        while timeline and min(t[0] for t in timeline) <= now:
            timeline.remove(step := min(timeline, key=lambda t: t[0]))
            step[1]()
        i += 1
        normal_workload.workflow(normal, i)
        time.sleep(max(0.0, start + i * 0.05 - time.monotonic()))
    for rec in normal.values():
        rec.heartbeat(status="stopped")
    recorders = [*normal.values(), payer, writer, intake, buyer]
    for rec in recorders:
        assert rec.close(30)
    out.write_text(json.dumps({"ids": ids, "recorded": sum(r.stats().accepted for r in recorders)}))


def storm(payer: Any, k: int) -> None:
    with payer.workflow(f"wf-storm-{k}"):
        for attempt in range(1, 6):
            payer.action_failed("api.charge", "HTTPError", "503", retryable=True)
            payer.retry("api.charge", f"op-{k}", attempt, "HTTP 503")


def unverified_write(writer: Any, workflow: str) -> None:
    with writer.workflow(workflow):
        writer.decision("db.customers.write", "the summary looked fine")
        writer.action_executed("db.customers.write", resource="db.customers")


def never_answered(intake: Any) -> None:
    with intake.workflow("wf-stalled"):
        intake.handoff_offered("sleeper", "summarise", payload="ticket 42")


# -- the test's side ----------------------------------------------------------------------------


@dataclass
class Run:
    """``handrail run`` in a subprocess, its environment and its log (appended across runs)."""

    tmp: Path
    receiver: Receiver
    process: subprocess.Popen[bytes] | None = None

    @property
    def ledger(self) -> Path:
        return self.tmp / "ledger"

    def env(self) -> dict[str, str]:
        channels = {
            "hook": {"type": "webhook", "url": self.receiver.url("/hook"), "secret": "s3cret"},
            "terminal": {"type": "terminal"},
        }
        return {
            **os.environ,
            "HANDRAIL_SPOOL__DIR": str(self.tmp / "spool"),
            "HANDRAIL_SPOOL__CONTROL_LOG": str(self.tmp / "control.log"),
            "HANDRAIL_LEDGER__DSN": f"chdb://{self.ledger}",
            "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(self.tmp / "checkpoints"),
            "HANDRAIL_PROCESSORS__RULES": json.dumps(RULES),
            "HANDRAIL_PROCESSORS__TICK_INTERVAL_S": "0.5",
            "HANDRAIL_ALERTS__CHANNELS": json.dumps(channels),
            "HANDRAIL_ALERTS__DEFAULT": json.dumps(["hook", "terminal"]),
            "HANDRAIL_ALERTS__RETRY": json.dumps({"initial_backoff_s": 0.1, "max_attempts": 3}),
            "COLUMNS": "400",
        }

    def start(self) -> Run:
        log = (self.tmp / "run.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handrail", "run"], env=self.env(), cwd=self.tmp,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not socket_path(self.ledger).exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"handrail run did not start: {self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()  # its socket stays behind: nobody answers there

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)

    def log(self) -> str:
        return (self.tmp / "run.log").read_text(errors="replace")

    def query(self, sql: str) -> list[dict[str, Any]]:
        reader = open_reader(f"chdb://{self.ledger}")
        try:
            return reader.query(sql)
        finally:
            reader.close()


def start_agents(tmp: Path, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_embedded_run", str(tmp / "spool"),
         str(tmp / "control.log"), str(tmp / "agents.json"), str(seconds)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def wait_until(run: Run, what: str, done: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert run.process is not None
        if run.process.poll() is not None:
            raise AssertionError(f"handrail run exited: {run.log()[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


EXPECTED = {
    *(f"retry-storm:payer:op-{k}" for k in range(STORMS)),
    "spend-cap:buyer:report",
}
PREFIXES = ("rights:wf-write-0:", "rights:wf-write-1:", "handoff-stalled:front->sleeper:")


def alerts_done(run: Run) -> bool:
    rows = run.query("SELECT type, event_json FROM events WHERE type LIKE 'alert_r%'")
    raised = {json.loads(r["event_json"])["payload"]["dedup_key"] for r in rows}
    resolved = [r for r in rows if r["type"] == "alert_resolved"]
    found = raised >= EXPECTED and all(any(k.startswith(p) for k in raised) for p in PREFIXES)
    return found and len(resolved) >= STORMS + 1  # storms and the cap clear


def workload(tmp: Path, seconds: float, run: Run, kills: list[float]) -> dict[str, Any]:
    """The agents' workload while ``run`` ingests, killed (-9) and restarted at ``kills``
    seconds; returns what the agents recorded once the ledger has it all."""
    agents_process = start_agents(tmp, seconds)
    started = time.monotonic()
    for at in kills:
        time.sleep(max(0.0, started + at - time.monotonic()))
        run.kill()
        time.sleep(0.5)
        run.start()
    assert agents_process.wait(120) == 0
    recorded = json.loads((tmp / "agents.json").read_text())
    spool_rows = "SELECT count() AS n FROM events WHERE startsWith(topic, 'spool:')"
    wait_until(run, "every event", lambda: run.query(spool_rows)[0]["n"] >= len(recorded["ids"]))
    wait_until(run, "the alerts", lambda: alerts_done(run))
    time.sleep(2)  # anything repeated would show now
    return recorded


def ledger_rows(run: Run) -> list[dict[str, Any]]:
    client = connect(f"chdb://{run.ledger}")
    try:
        result = client.query("SELECT event_id, type, topic, offset, event_json FROM events")
        rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
        report = verify(client, Checkpoints(run.tmp / "checkpoints"))
        assert report.ok, report.broken
    finally:
        client.close()
    return rows


def check_exactly_once(rows: list[dict[str, Any]], recorded: dict[str, Any]) -> None:
    spool = [str(r["event_id"]) for r in rows if r["topic"].startswith("spool:")]
    assert len(recorded["ids"]) == recorded["recorded"]
    duplicates = [i for i, n in Counter(spool).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} events twice in the ledger"
    assert set(spool) == set(recorded["ids"]), (
        f"{len(set(recorded['ids']) - set(spool))} events missing"
    )


def alert_keys(rows: list[dict[str, Any]], kind: str) -> Counter[str]:
    return Counter(
        json.loads(r["event_json"])["payload"]["dedup_key"] for r in rows if r["type"] == kind
    )


def check_alerts(rows: list[dict[str, Any]], receiver: Receiver, run_log: str) -> None:
    raised, resolved = alert_keys(rows, "alert_raised"), alert_keys(rows, "alert_resolved")
    assert set(raised) >= EXPECTED
    assert all(sum(k.startswith(p) for k in raised) == 1 for p in PREFIXES), raised
    assert set(raised.values()) == {1}, f"raised more than once: {raised}"
    assert set(resolved.values()) == {1}, f"resolved more than once: {resolved}"
    pages = Counter(
        (r.json["dedup_key"], r.json["action"]) for r in receiver.requests("/hook")
    )  # fmt: skip
    assert pages == Counter(
        {**{(k, "trigger"): 1 for k in raised}, **{(k, "resolve"): 1 for k in resolved}}
    ), "a page was missed or repeated"
    delivered = Counter(
        (json.loads(r["event_json"])["payload"]["dedup_key"],
         json.loads(r["event_json"])["payload"]["channel"])
        for r in rows if r["type"] == "alert_delivered"
    )  # fmt: skip
    for key in raised:
        expected = 1 + resolved[key]
        assert delivered[(key, "webhook")] == expected, (key, delivered)
        assert delivered[(key, "terminal")] == expected, (key, delivered)
        assert run_log.count(f"[{key}]") == expected, f"terminal lines of {key}"


def check_halts(tmp: Path, rows: list[dict[str, Any]]) -> None:
    values, _ = ControlLog(tmp / "control.log").read()
    halts = [decode(v)[1] for v in values if event_type(decode(v)[1]) == "halt"]
    keys = Counter(h["payload"][1]["alert_dedup_key"] for h in halts)
    assert keys == Counter({**{f"retry-storm:payer:op-{k}": 1 for k in range(STORMS)},
                            "spend-cap:buyer:report": 1})  # fmt: skip
    in_ledger = {str(r["event_id"]) for r in rows if r["type"] == "halt"}
    assert {str(h["event_id"]) for h in halts} == in_ledger


@pytest.fixture
def receiver() -> Any:
    with Receiver() as rx:
        yield rx


def test_a_workload_with_failures_reaches_the_ledger_once_with_its_alerts_and_halts(
    tmp_path: Path, receiver: Receiver
) -> None:
    run = Run(tmp_path, receiver).start()
    try:
        recorded = workload(tmp_path, 10.0, run, kills=[])
        shown = subprocess.run(
            [sys.executable, "-m", "handrail", "explain", "wf-storm-0", "--json"],
            env=run.env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        tree = json.loads(shown.stdout)
        assert "alert_raised" in json.dumps(tree)
    finally:
        run.stop()
    assert run.process is not None
    assert run.process.returncode == 0, run.log()[-3000:]
    rows = ledger_rows(run)
    check_exactly_once(rows, recorded)
    check_alerts(rows, receiver, run.log())
    check_halts(tmp_path, rows)
    assert not list((tmp_path / "spool").iterdir()), "consumed segments are deleted"


def test_killed_twice_mid_workload_loses_and_repeats_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    run = Run(tmp_path, receiver).start()
    try:
        recorded = workload(tmp_path, 12.0, run, kills=[3.5, 8.0])
    finally:
        run.stop()
    rows = ledger_rows(run)
    check_exactly_once(rows, recorded)
    check_alerts(rows, receiver, run.log())
    check_halts(tmp_path, rows)


if __name__ == "__main__":
    agents(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
