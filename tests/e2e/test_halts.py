"""The closed loop, end to end: a retry storm the processors detect halts the operation;
the agent's next authorize() is denied within a second of the alert, naming the halt,
until ``handrail resume`` (another process) lifts it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handrail.producers import Recorder
from handrail.settings import (
    AgentIdentity,
    GovernanceSettings,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)
from tests.support.processors_worker import Worker, WorkerTopics
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(300)

GOVERNANCE = """
agents:
  payer: {owner: team-pay}
rights:
  - {action: api.charge, effect: allow, reason: charges are fine}
"""


def payer(topics: WorkerTopics, tmp: Path) -> Recorder:
    (tmp / "governance.yaml").write_text(GOVERNANCE)
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=topics.bootstrap, events_topic=topics.events),
        spool=SpoolSettings(dir=tmp / "spool-payer"),
        processors=ProcessorSettings(control_topic=topics.control),
        governance=GovernanceSettings(file=tmp / "governance.yaml"),
    )
    return Recorder(settings, AgentIdentity(name="payer", owner="team-pay"))


def first_allowed(rec: Recorder, attempt: int, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rec.authorize("api.charge", operation_id="op-1", attempt=attempt).allowed:
            return time.time()
        time.sleep(0.05)
    raise AssertionError("still halted")


def test_a_retry_storm_halts_the_operation_until_resumed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "spool")
        worker = Worker(env, tmp_path / "w.log").start()
        try:
            with payer(topics, tmp_path) as rec, rec.workflow("wf-pay"):
                attempt, denied = 0, None
                while attempt < 50:  # the agent retries until it is told not to
                    verdict = rec.authorize("api.charge", operation_id="op-1", attempt=attempt)
                    if not verdict.allowed:
                        denied = (time.time(), verdict)
                        break
                    rec.action_failed("api.charge", "HTTPError", "503", retryable=True)
                    attempt += 1
                    rec.retry("api.charge", "op-1", attempt, "HTTP 503")
                    rec.flush()
                    time.sleep(0.1)
                assert denied is not None, "never halted"
                (trigger,) = receiver.wait_for("/pd", 1, timeout=30)
                other = rec.authorize("api.charge", operation_id="op-2")
                command = [sys.executable, "-m", "handrail", "resume", "payer",
                           "--operation", "op-1", "--by", "alice", "--reason", "card fixed",
                           "--kafka", topics.bootstrap]  # fmt: skip
                cli_env = {**os.environ, "HANDRAIL_PROCESSORS__CONTROL_TOPIC": topics.control,
                           "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool-cli")}  # fmt: skip
                done = subprocess.run(
                    command, check=False, env=cli_env, capture_output=True, text=True
                )
                resumed_at = time.time()
                allowed_at = first_allowed(rec, attempt)
        finally:
            worker.stop()
    denied_at, verdict = denied
    assert trigger.json["dedup_key"] == "retry-storm:payer:op-1"
    assert denied_at - trigger.time < 1.0
    assert 4 <= attempt <= 8  # the storm limit is 3 retries; a few more ran while it spread
    assert (verdict.effect, verdict.rule) == ("deny", "halt")
    assert "operation op-1 of payer is halted" in verdict.reason
    assert "handrail resume payer --operation op-1" in verdict.reason
    assert other.allowed  # only the storming operation is halted
    assert done.returncode == 0, done.stderr
    assert "resumed operation op-1 of payer" in done.stdout
    assert allowed_at - resumed_at < 1.5
