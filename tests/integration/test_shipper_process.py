"""``producer.shipper = "process"`` against a real broker: the shipper process outlives a
killed agent and delivers what it read; a killed shipper process leaves the agent going."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from handrail.producers import Recorder
from handrail.producers.shipping.remote import RemoteShipper
from handrail.schemas import decode
from handrail.settings import AgentIdentity
from tests.support.kafka_io import kafka_settings, read_topic

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def delivered(bootstrap: str, topic: str, expect: int) -> Counter[str]:
    messages = read_topic(bootstrap, topic, expect=expect, timeout=120)
    return Counter(str(decode(m.value)[1]["event_id"]) for m in messages)


def test_agent_killed_its_shipper_process_delivers_what_it_read(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    ids_file, count = tmp_path / "ids.txt", 20_000  # more than Kafka takes in 0.2 s here
    agent = subprocess.Popen(
        [sys.executable, "-m", "tests.support.process_shipper_agent", kafka_bootstrap, topic,
         str(tmp_path / "spool"), str(count), str(ids_file)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
        assert line.startswith("RECORDED"), line
        acknowledged = int(line.split()[1])  # by Kafka, just before the kill
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    finally:
        if agent.poll() is None:
            agent.kill()
    ids = ids_file.read_text().split()
    assert len(ids) == count
    assert acknowledged < count, "the agent's shipper process had already shipped everything"
    counts = delivered(kafka_bootstrap, topic, count)
    assert set(counts) == set(ids), f"{len(set(ids) - set(counts))} events lost"
    assert max(counts.values()) == 1


def test_shipper_process_killed_the_agent_goes_on(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, topic, tmp_path / "spool", shipper="process")
    with Recorder(settings, AgentIdentity(name="survivor")) as rec:
        with rec.workflow():
            before = [rec.heartbeat().event_id for _ in range(500)]
        assert rec.flush(60)
        shipper = rec._shipper
        assert isinstance(shipper, RemoteShipper)
        os.kill(shipper.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{shipper.pid}").exists():  # until the recorder has reaped it
            assert time.monotonic() < deadline, "the recorder did not notice its shipper died"
            time.sleep(0.01)
        after: list[str] = []
        with rec.workflow():
            for _ in range(20):
                after.extend(rec.heartbeat().event_id for _ in range(50))
                time.sleep(0.01)
        assert rec.close(60), "the thread shipper that took over should deliver the rest"
        stats = rec.stats()
    assert stats.accepted == 1_500
    assert stats.state == "online"
    counts = delivered(kafka_bootstrap, topic, 1_500)
    assert set(before) <= set(counts), "events flushed before the kill were lost"
    assert set(after) <= set(counts), "events recorded after the kill were lost"
    assert max(counts.values()) == 1


def test_the_shipper_process_redacts_what_it_delivers(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    redact = ["payload.rationale", "payload.inputs.value", "labels.email"]
    settings = kafka_settings(
        kafka_bootstrap, topic, tmp_path / "spool", shipper="process", redact=redact,
        labels={"email": "ops@example.com", "env": "prod"},
    )  # fmt: skip
    with Recorder(settings, AgentIdentity(name="scrubbed")) as rec:
        for i in range(50):
            rec.decision("x", f"card 4111-{i}", inputs=[{"name": "q", "value": "secret"}])
        assert rec.close(60)
    events = [decode(m.value)[1] for m in read_topic(kafka_bootstrap, topic, 50, timeout=60)]
    assert len(events) == 50
    for event in events:
        assert event["payload"][1]["rationale"] == "[REDACTED]"
        assert event["payload"][1]["inputs"] == [{"name": "q", "value": "[REDACTED]", "ref": None}]
        assert event["labels"] == {"email": "[REDACTED]", "env": "prod"}
