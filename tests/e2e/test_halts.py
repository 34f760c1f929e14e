"""The closed loop, end to end: a retry storm the processors detect halts the operation
(a halt they sign with their own key, on the halts topic); the agent's next authorize()
is denied within a second of the alert, naming the halt. A forged resume dated in 2299
is ignored by the agent and raises a "forged control entry" page; an agent that starts
while the halt is in force is denied from its first authorize(); ``handrail resume``
(another process, with a permitted person's key) lifts the halt."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from handrail.control.topics import destination
from handrail.processors.detectors.forged import alert_key
from handrail.processors.observation import Observation
from handrail.producers import Recorder
from handrail.schemas import decode, encode
from handrail.settings import (
    AgentIdentity,
    GovernanceSettings,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)
from tests.support.processors_worker import Worker, WorkerTopics
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.samples import event_record
from tests.support.signers import PROCESSOR, governance_yaml, key_file

pytestmark = pytest.mark.timeout(300)


def payer(topics: WorkerTopics, tmp: Path, name: str = "spool-payer") -> Recorder:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=topics.bootstrap, events_topic=topics.events),
        spool=SpoolSettings(dir=tmp / name),
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


def forge_resume(topics: WorkerTopics) -> str:
    """An unsigned resume of payer's op-1, dated 2299, sent straight to the halts topic
    (never to the events topic, as no recorder sent it); its alert's dedup key."""
    lie = event_record("resume", agent="handrail-cli", scope="operation", target_agent="payer",
                       operation_id="op-1", reason="all good", by="alice")  # fmt: skip
    lie["time"], lie["workflow_id"] = datetime(2299, 1, 1, tzinfo=UTC), "wf-pay"
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap)
    topic, key = destination(lie, topics.control)
    producer.send(topic, value=encode(lie), key=key).get(30)
    producer.close()
    return alert_key(Observation.from_record(decode(encode(lie))[1]))


def resume(topics: WorkerTopics, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``handrail resume`` of payer's op-1 by alice, with her key, in another process."""
    command = [sys.executable, "-m", "handrail", "resume", "payer", "--operation", "op-1",
               "--reason", "card fixed", "--key", str(key_file(tmp, "alice")),
               "--kafka", topics.bootstrap]  # fmt: skip
    cli_env = {**os.environ, "HANDRAIL_PROCESSORS__CONTROL_TOPIC": topics.control,
               "HANDRAIL_GOVERNANCE__FILE": str(tmp / "governance.yaml"),
               "HANDRAIL_SPOOL__DIR": str(tmp / "spool-cli")}  # fmt: skip
    cli_env.pop("HANDRAIL_SIGNING_KEY", None)
    return subprocess.run(command, check=False, env=cli_env, capture_output=True, text=True)


def page(receiver: Receiver, dedup_key: str, timeout: float = 30.0) -> ReceivedRequest:
    """The first PagerDuty page for ``dedup_key``, waiting for it (others may come first)."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        pages = receiver.wait_for("/pd", count, timeout=max(0.0, deadline - time.monotonic()))
        found = [p for p in pages if p.json["dedup_key"] == dedup_key]
        if found:
            return found[0]
        count = len(pages) + 1


def test_a_retry_storm_halts_the_operation_until_resumed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    (tmp_path / "governance.yaml").write_text(governance_yaml())
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "spool")
        env |= {"HANDRAIL_GOVERNANCE__FILE": str(tmp_path / "governance.yaml"),
                "HANDRAIL_PROCESSORS__SIGNING_KEY": str(key_file(tmp_path, PROCESSOR))}  # fmt: skip
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

                forged_page = page(receiver, forge_resume(topics)).json
                still = rec.authorize("api.charge", operation_id="op-1", attempt=attempt)
                with payer(topics, tmp_path, "spool-late") as late:  # starts while halted
                    late_first = late.authorize("api.charge", operation_id="op-1")

                done = resume(topics, tmp_path)
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
    assert forged_page["payload"]["severity"] == "critical"
    assert "forged control entry" in forged_page["payload"]["summary"]
    assert (still.effect, still.rule) == ("deny", "halt")  # the forged resume lifted nothing
    assert (late_first.effect, late_first.rule) == ("deny", "halt")  # bound from its first call
    assert done.returncode == 0, done.stderr
    assert "resumed operation op-1 of payer" in done.stdout
    assert allowed_at - resumed_at < 1.5
