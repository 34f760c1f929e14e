"""The SDK against a real broker: 10,000 mixed events, in order, gap-free, standard Avro."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handrail.producers import EventRef, Recorder
from handrail.schemas import decode, event_type
from handrail.settings import AgentIdentity
from tests.support.kafka_io import kafka_settings, read_topic
from tests.unit.test_wire import reference_decode

pytestmark = pytest.mark.kafka

DEADLINE = datetime(2026, 11, 25, 12, 30, 15, 123456, tzinfo=UTC)
TIMED = ("handoff_offered", "approval_requested")
KINDS = ["spend", "retry", "failed", "executed", "heartbeat", "approval", "handoff"]


def emit_mixed(rec: Recorder, total: int, workflows: int, seed: int = 7) -> list[str]:
    """Interleave ``workflows`` workflows of nested, mixed events; return event ids."""
    rng = random.Random(seed)
    ids: list[str] = []
    last: dict[int, EventRef] = {}
    while len(ids) < total:
        wf = rng.randrange(workflows)
        scope = rec.within(last[wf]) if wf in last else rec.workflow(f"wf-{seed}-{wf}")
        with scope:
            d = rec.decision("tool.call", "step", checks=[{"name": "ok", "passed": True}])
            last[wf] = d
            ids.append(d.event_id)
            with rec.within(d):
                for _ in range(min(rng.randint(0, 3), total - len(ids))):
                    kind = rng.choice(KINDS)
                    if kind == "handoff":  # timestamp fields: datetimes on the wire
                        ticket = rec.handoff_offered("analyst", "analyse", deadline=DEADLINE)
                        ids.append(ticket.offer_event_id)
                        continue
                    if kind == "approval":
                        ref = rec.approval_requested(f"ap-{len(ids)}", "db.write", "policy",
                                                     expires_at=DEADLINE)  # fmt: skip
                    elif kind == "spend":
                        ref = rec.spend(0.01, "openai", "gpt", input_tokens=100)
                    elif kind == "retry":
                        ref = rec.retry("tool.call", "op", 1, "timeout")
                    elif kind == "failed":
                        ref = rec.action_failed("tool.call", "Timeout", "504", retryable=True)
                    elif kind == "executed":
                        ref = rec.action_executed("tool.call", duration_ms=3.0)
                    else:
                        ref = rec.heartbeat(status="ok")
                    ids.append(ref.event_id)
    return ids


@pytest.mark.parametrize("shipper", ["thread", "process"])
def test_ten_thousand_events_arrive_in_causal_order(
    kafka_bootstrap: str, topic: str, tmp_path: Path, shipper: str
) -> None:
    settings = kafka_settings(kafka_bootstrap, topic, tmp_path / "spool", shipper=shipper)
    with Recorder(settings, AgentIdentity(name="worker", owner="team-a")) as rec:
        ids = emit_mixed(rec, 10_000, workflows=12)
        assert len(ids) == 10_000
        assert rec.close(120)  # delivered, including anything the flat-out burst spilled
        stats = rec.stats()
    assert stats.delivered >= len(ids)  # a spilled event counts again when replayed
    assert stats.state == "online"

    messages = read_topic(kafka_bootstrap, topic, expect=len(ids))
    assert len(messages) == len(ids)
    events = [(m, decode(m.value)[1]) for m in messages]
    assert sorted(str(e["event_id"]) for _, e in events) == sorted(ids)
    assert sorted(e["sequence"] for _, e in events) == list(range(1, len(ids) + 1))

    seen: dict[str, set[str]] = defaultdict(set)
    last_seq: dict[str, int] = defaultdict(int)
    for message, event in sorted(events, key=lambda me: (me[0].partition, me[0].offset)):
        wf = event["workflow_id"]
        assert message.key == wf.encode()
        assert event["sequence"] > last_seq[wf], "workflow order broken within its partition"
        last_seq[wf] = event["sequence"]
        if event["causation_id"] is not None:
            assert event["causation_id"] in seen[wf], "an event arrived before its cause"
        seen[wf].add(str(event["event_id"]))
    assert len(seen) == 12

    timed = [e["payload"][1] for _, e in events if event_type(e) in TIMED]
    assert len(timed) > 500
    assert all(p.get("deadline", p.get("expires_at")) == DEADLINE for p in timed)

    for message, event in events[:: len(events) // 200]:
        decoded = reference_decode(message.value)
        assert decoded["event_id"] == str(event["event_id"])
        assert decoded["sequence"] == event["sequence"]
        assert event_type(event) in {
            "decision_made",
            "spend",
            "retry",
            "action_failed",
            "action_executed",
            "heartbeat",
            *TIMED,
        }
