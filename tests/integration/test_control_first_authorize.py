"""An agent that starts after a halt is bound by it from its first authorize(): the
recorder reads the control channel to its end before it decides (the log on the embedded
default, the halts topic on Kafka); a channel it cannot read in time fails closed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from handrail.control.log import ControlLog
from handrail.control.topics import destination
from handrail.producers import Recorder
from handrail.schemas import encode
from handrail.settings import (
    AgentIdentity,
    GovernanceSettings,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)
from tests.support.samples import event_record
from tests.support.signers import governance_yaml, halt_fields

pytestmark = pytest.mark.timeout(120)


def settings(tmp: Path, kafka: str | None = None, control: str = "control", wait_s: float = 5.0,
             control_log: Path | None = None) -> Settings:  # fmt: skip
    (tmp / "governance.yaml").write_text(governance_yaml())
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka, events_topic=f"{control}.events"),
        spool=SpoolSettings(dir=tmp / "spool", control_log=control_log or tmp / "control.log"),
        processors=ProcessorSettings(control_topic=control),
        governance=GovernanceSettings(file=tmp / "governance.yaml", control_wait_s=wait_s),
    )


def halt_record() -> dict[str, object]:
    fields = halt_fields("payer", "op-1", reason="retry storm")  # signed by the processors
    record = event_record("halt", agent="handrail-processors", **fields)
    record["workflow_id"] = "wf-pay"
    return record


@pytest.fixture
def payer() -> Iterator[list[Recorder]]:
    started: list[Recorder] = []
    yield started
    for rec in started:
        rec.close(5)


def start(payer: list[Recorder], s: Settings) -> Recorder:
    payer.append(Recorder(s, AgentIdentity(name="payer", owner="team-pay")))
    return payer[-1]


def test_embedded_a_recorder_started_after_a_halt_is_denied_at_once(
    tmp_path: Path, payer: list[Recorder]
) -> None:
    s = settings(tmp_path)
    # A day of other agents' handoff answers before it: reading them takes a while.
    answers = (encode(event_record("handoff_accepted", agent="reviewer", from_agent="writer",
                                   handoff_id=f"h-{i}")) for i in range(20_000))  # fmt: skip
    ControlLog(s.spool.control_log).append([*answers, encode(halt_record())])
    rec = start(payer, s)
    first = rec.authorize("api.charge", operation_id="op-1")
    assert (first.effect, first.rule) == ("deny", "halt")
    assert "operation op-1 of payer is halted: retry storm" in first.reason
    assert rec.authorize("api.charge", operation_id="op-2").allowed  # only op-1 is halted


def test_kafka_a_recorder_started_after_a_halt_is_denied_at_once(
    kafka_bootstrap: str, tmp_path: Path, payer: list[Recorder]
) -> None:
    control = f"t-{uuid.uuid4().hex[:8]}.control"
    s = settings(tmp_path, kafka_bootstrap, control)
    record = halt_record()
    topic, key = destination(record, control)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, value=encode(record), key=key).get(30)
    producer.close()
    rec = start(payer, s)
    first = rec.authorize("api.charge", operation_id="op-1")
    assert (first.effect, first.rule) == ("deny", "halt")
    assert rec.authorize("api.charge", operation_id="op-2").allowed


def test_a_channel_that_cannot_be_read_fails_closed_and_waits_only_once(
    tmp_path: Path, payer: list[Recorder]
) -> None:
    unreadable = tmp_path / "control.log"
    unreadable.mkdir()  # a directory where the log should be: the follower cannot open it
    rec = start(payer, settings(tmp_path, wait_s=1.0, control_log=unreadable))
    began = time.monotonic()
    first = rec.authorize("api.charge", operation_id="op-1")
    waited = time.monotonic() - began
    began = time.monotonic()
    second = rec.authorize("api.charge", operation_id="op-1")
    assert (first.effect, first.rule) == ("deny", "control")
    assert "control channel is unreachable" in first.reason
    assert waited >= 1.0  # the first call waited its bound for the channel
    assert (second.effect, second.rule) == ("deny", "control")
    assert time.monotonic() - began < 1.0  # and later ones do not wait again


def test_kafka_a_missing_halts_topic_counts_as_read(
    kafka_bootstrap: str, tmp_path: Path, payer: list[Recorder]
) -> None:
    """Nothing was ever sent to a channel whose topics do not exist: no halt can be in force."""
    rec = start(payer, settings(tmp_path, kafka_bootstrap, f"t-{uuid.uuid4().hex[:8]}.none"))
    assert rec.authorize("api.charge", operation_id="op-1").allowed


def test_a_forged_resume_is_ignored_and_logged_by_the_agent(
    tmp_path: Path, payer: list[Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    s = settings(tmp_path)
    halt = halt_record()
    lie = event_record("resume", agent="handrail-cli", scope="operation", target_agent="payer",
                       operation_id="op-1", reason="all good", by="alice")  # fmt: skip
    ControlLog(s.spool.control_log).append([encode(halt), encode(lie)])
    rec = start(payer, s)
    assert rec.authorize("api.charge", operation_id="op-1").rule == "halt"
    ignored = [r.getMessage() for r in caplog.records if "ignoring a forged" in r.getMessage()]
    assert ignored == [f"control channel: ignoring a forged resume ({lie['event_id']}, from "
                       "'handrail-cli'): unsigned"]  # fmt: skip
