"""A receiver's answer to a handoff reaches the sender over a real Kafka control topic:
the sender learns of a rejection (and the checks that failed) and of an acceptance."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from handrail.producers import Recorder
from handrail.settings import (
    AgentIdentity,
    GovernanceSettings,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)

pytestmark = pytest.mark.timeout(120)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "governance.example.yaml"


def test_the_sender_sees_the_receivers_answer(kafka_bootstrap: str, tmp_path: Path) -> None:
    events, control = (f"t-{n}-{uuid.uuid4().hex[:8]}" for n in ("events", "control"))
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(events, 3, 1), NewTopic(control, 3, 1)])
    admin.close()

    def agent(name: str) -> Recorder:
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, events_topic=events),
            processors=ProcessorSettings(control_topic=control),
            spool=SpoolSettings(dir=tmp_path / f"spool-{name}"),
            governance=GovernanceSettings(file=EXAMPLE),
        )
        return Recorder(settings, AgentIdentity(name=name, owner="team"))

    checks = {"has_customer_id": lambda p: p["customer_id"],
              "summary_not_empty": lambda p: p["summary"].strip()}  # fmt: skip
    good, blank = {"customer_id": "C1", "summary": "refund"}, {"customer_id": "C2", "summary": ""}
    with agent("summarizer") as sender, agent("analyst") as receiver:
        tickets = [sender.handoff("analyst", "analyse", p) for p in (good, blank)]
        for ticket, payload in zip(tickets, (good, blank), strict=True):
            receiver.accept(ticket, payload, checks=checks)
        answers = [sender.handoff_outcome(t, timeout=20) for t in tickets]
    accepted, rejected = answers
    assert accepted is not None
    assert accepted.accepted
    assert accepted.receiver == "analyst"
    assert rejected is not None
    assert not rejected.accepted
    assert rejected.failed_checks == ("summary_not_empty",)
