"""End to end: a real broker, a real processors worker process, a real HTTP receiver
speaking PagerDuty and Slack. Each essay scenario raises exactly its alert (and resolves
it where the condition clears); a clean workload raises nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from handrail.schemas import AVRO_NAMES, encode
from tests.support.processors_worker import Worker, WorkerTopics, agent_recorder
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerTopics, Receiver, Path]]:
    tmp = tmp_path_factory.mktemp("processors")
    topics = WorkerTopics(kafka_bootstrap)
    with Receiver() as receiver:
        worker = Worker(topics.env(receiver.url("").rstrip("/"), tmp / "spool"), tmp / "w.log")
        worker.start()
        yield topics, receiver, tmp
        worker.stop()


def pages(receiver: Receiver, key_part: str) -> list[tuple[str, str]]:
    """(event_action, dedup_key) of every PagerDuty request about ``key_part``."""
    return [
        (r.json["event_action"], r.json["dedup_key"])
        for r in receiver.requests("/pd")
        if key_part in r.json["dedup_key"]
    ]


def wait_pages(receiver: Receiver, key_part: str, count: int, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while len(pages(receiver, key_part)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # and nothing more arrives


def steady(seconds: float, every: float, step: Callable[[int], object]) -> None:
    for i in range(int(seconds / every)):
        step(i)
        time.sleep(every)


def test_retry_storm_raises_halts_and_resolves(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with agent_recorder(topics, tmp, "payer") as rec, rec.workflow("wf-storm"):
        for attempt in range(1, 6):
            rec.action_failed("api.charge", "HTTPError", "503", retryable=True)
            rec.retry("api.charge", "op-1", attempt, "HTTP 503")
    wait_pages(receiver, ":payer", 2)
    assert pages(receiver, ":payer") == [
        ("trigger", "retry-storm:payer:op-1"),
        ("resolve", "retry-storm:payer:op-1"),
    ]


def test_spend_drift_3x_raises_and_resolves(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with agent_recorder(topics, tmp, "spender") as rec, rec.workflow():

        def spend(usd: float) -> Callable[[int], object]:
            return lambda _: rec.spend(usd, "openai", "gpt-4o")

        steady(9, 0.25, spend(0.025))  # $0.10/s: the baseline
        steady(7, 0.25, spend(0.075))  # 3x
        steady(6, 0.25, spend(0.025))  # back
    wait_pages(receiver, "spend-drift:spender", 2)
    assert pages(receiver, ":spender") == [
        ("trigger", "spend-drift:spender:*"),
        ("resolve", "spend-drift:spender:*"),
    ]


def test_rejected_handoffs_on_one_edge(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with (
        agent_recorder(topics, tmp, "writer") as sender,
        agent_recorder(topics, tmp, "checker") as rx,
    ):
        for i in range(40):
            with sender.workflow():
                ticket = sender.handoff_offered("checker", "check the summary", payload={"i": i})
            with rx.receive(ticket):
                if i % 10 in (0, 4, 7) and i < 10:  # 30% of the first ten
                    rx.handoff_rejected(ticket, "summary has no customer id")
                else:
                    rx.handoff_accepted(ticket)
    wait_pages(receiver, "writer->checker", 2)
    assert pages(receiver, "writer->checker") == [
        ("trigger", "handoff-reject-rate:writer->checker"),
        ("resolve", "handoff-reject-rate:writer->checker"),
    ]


def test_stalled_handoff_raises_then_resolves_when_answered(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with (
        agent_recorder(topics, tmp, "intake") as sender,
        agent_recorder(topics, tmp, "sleeper") as rx,
    ):
        with sender.workflow():
            ticket = sender.handoff_offered("sleeper", "summarise", payload="ticket 42")
        sender.flush()
        wait_pages(receiver, "intake->sleeper", 1)
        with rx.receive(ticket):
            rx.handoff_accepted(ticket)
    wait_pages(receiver, "intake->sleeper", 2)
    key = f"handoff-stalled:intake->sleeper:{ticket.handoff_id}"
    assert pages(receiver, "intake->sleeper") == [("trigger", key), ("resolve", key)]


def test_database_write_without_approval_is_a_violation(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with agent_recorder(topics, tmp, "db-writer") as rec, rec.workflow("wf-write"):
        rec.decision("db.customers.write", "the summary looked fine")
        write = rec.action_executed("db.customers.write", resource="db.customers")
        rec.action_executed("tool.search")  # needs no verdict
    wait_pages(receiver, "rights:wf-write", 1)
    assert pages(receiver, "rights:wf-write") == [("trigger", f"rights:wf-write:{write.event_id}")]
    page = receiver.requests("/pd")[-1].json
    assert "with no verdict" in page["payload"]["summary"]


def test_silent_agent_raises_and_resolves(pipeline: tuple) -> None:
    topics, receiver, tmp = pipeline
    with agent_recorder(topics, tmp, "quiet") as rec:
        steady(2, 0.5, lambda _: rec.heartbeat(interval_s=0.5))
        rec.flush()
        wait_pages(receiver, "silence:quiet", 1)
        rec.heartbeat(interval_s=0.5, status="stopped")
    wait_pages(receiver, "silence:quiet", 2)
    assert pages(receiver, "silence:quiet") == [
        ("trigger", "silence:quiet"),
        ("resolve", "silence:quiet"),
    ]


def _raw_event(session: str, sequence: int) -> bytes:
    return encode({
        "event_id": str(uuid.uuid4()), "time": datetime.now(UTC), "workflow_id": "wf-gap",
        "causation_id": None, "agent": {"name": "lossy", "version": "1", "owner": "team-l"},
        "session_id": session, "sequence": sequence, "labels": {},
        "payload": (AVRO_NAMES["heartbeat"], {"status": None, "interval_s": 60.0}),
    })  # fmt: skip


def test_sequence_gap_raises_then_resolves_when_the_event_arrives(pipeline: tuple) -> None:
    topics, receiver, _ = pipeline
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap)
    session = uuid.uuid4().hex
    for seq in (1, 2, 3, 5, 6):
        producer.send(topics.events, key=b"wf-gap", value=_raw_event(session, seq))
    producer.flush()
    wait_pages(receiver, f"sequence-gap:lossy:{session}", 1)
    producer.send(topics.events, key=b"wf-gap", value=_raw_event(session, 4))
    producer.close()
    wait_pages(receiver, f"sequence-gap:lossy:{session}", 2)
    key = f"sequence-gap:lossy:{session}:4"
    assert pages(receiver, ":lossy:") == [("trigger", key), ("resolve", key)]
    slack = [r.json for r in receiver.requests("/slack") if "lossy" in str(r.json)]
    assert len(slack) == 2


def test_malformed_message_goes_to_the_dead_letters_and_the_worker_goes_on(
    pipeline: tuple,
) -> None:
    topics, receiver, tmp = pipeline
    garbage = b"\xc3\x01not-a-fingerprint-nor-a-body"
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap)
    producer.send(topics.events, key=b"wf-bad", value=garbage)
    producer.close()
    consumer = KafkaConsumer(
        topics.dead, bootstrap_servers=topics.bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )  # fmt: skip
    letter = next(iter(consumer))
    consumer.close()
    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (b"wf-bad", garbage)
    assert headers["handrail-error-type"] == b"UnknownFingerprintError"
    assert headers["handrail-source"].startswith(f"{topics.events}/".encode())
    with agent_recorder(topics, tmp, "after-bad") as rec, rec.workflow("wf-after-bad"):
        rec.action_executed("db.orders.delete")
    wait_pages(receiver, "rights:wf-after-bad", 1)
    assert len(pages(receiver, "rights:wf-after-bad")) == 1
