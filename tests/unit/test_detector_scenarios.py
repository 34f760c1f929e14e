"""The essay's scenarios, end to end through ``routes`` + ``Detection``: each failure
raises its alert; 10,000 events of normal work raise none."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.processors.findings import Finding
from tests.support.observations import T0, Pipeline, Producer, rules

WRITE, ORDERS = "db.customers.write", "db.orders.write"


def keys(found: list[Finding]) -> list[tuple[str, bool]]:
    return [(f.dedup_key, f.resolved) for f in found]


def test_retry_storm_halts_the_operation() -> None:
    pipeline, agent = Pipeline(), Producer()
    found: list[Finding] = []
    for n in range(12):  # a failing paid call retried without end
        retry = agent.emit("retry", T0 + 20 * n, operation_id="charge-42", attempt=n + 2)
        found += pipeline.observe(retry, T0 + 20 * n)
        found += pipeline.tick(T0 + 20 * n + 10)
    ((storm),) = found
    assert (storm.dedup_key, storm.halt, storm.operation, storm.severity) == (
        "retry-storm:analyst:charge-42", "operation", "charge-42", "critical",
    )  # fmt: skip
    assert len(storm.evidence) == 6
    assert keys(pipeline.tick(T0 + 220 + 600)) == [("retry-storm:analyst:charge-42", True)]


def test_spend_drifts_to_three_times_its_baseline() -> None:
    fast = {"bucket_s": 10, "short_window_s": 30, "long_window_s": 60, "warmup_buckets": 6}
    pipeline, agent = Pipeline(rules(spend=fast)), Producer()
    found: list[Finding] = []
    for b in range(30):
        usd = 0.5 if b < 15 else 1.5
        found += pipeline.observe(agent.emit("spend", T0 + 10 * b + 1, usd=usd), T0 + 10 * b + 1)
        found += pipeline.tick(T0 + 10 * b + 6)
    ((drift),) = found
    assert (drift.dedup_key, drift.severity) == ("spend-drift:analyst:*", "warning")
    assert "3.0x its baseline" in drift.summary


def test_spend_cap_halts_the_agent() -> None:
    found = Pipeline().observe(Producer().emit("spend", T0, usd=40.0, action="report"), T0)
    assert [(f.dedup_key, f.halt) for f in found] == [("spend-cap:analyst:report", "agent")]


def test_a_third_of_handoffs_rejected_on_one_edge() -> None:
    pipeline, sender, receiver = Pipeline(), Producer("summarizer"), Producer()
    found: list[Finding] = []
    for n in range(10):
        t, hid = T0 + 10 * n, f"h{n}"
        found += pipeline.observe(sender.emit("handoff_offered", t, handoff_id=hid), t)
        kind = "handoff_rejected" if n % 3 == 2 else "handoff_accepted"
        found += pipeline.observe(receiver.emit(kind, t + 1, handoff_id=hid), t + 1)
    assert keys(found) == [("handoff-reject-rate:summarizer->analyst", False)]
    assert found[0].agent == "analyst"


def test_stalled_handoff() -> None:
    pipeline, sender = Pipeline(), Producer("summarizer")
    pipeline.observe(sender.emit("handoff_offered", T0, handoff_id="h-9", deadline=T0 + 60), T0)
    assert pipeline.tick(T0 + 59) == []
    assert keys(pipeline.tick(T0 + 60)) == [("handoff-stalled:summarizer->analyst:h-9", False)]
    answer = Producer().emit("handoff_accepted", T0 + 90, handoff_id="h-9")
    assert keys(pipeline.observe(answer, T0 + 90)) == [
        ("handoff-stalled:summarizer->analyst:h-9", True)
    ]


RIGHTS = [
    pytest.param([], "with no verdict", id="db-write-without-approval"),
    pytest.param([("policy_verdict", {"effect": "deny"})], "after a deny verdict", id="deny"),
    pytest.param(
        [
            ("policy_verdict", {"effect": "needs_approval"}),
            ("approval_requested", {"action": WRITE}),
            ("approval_granted", {}),
        ],
        None,
        id="approved",
    ),
    pytest.param(
        [("handoff_rejected", {"from_agent": "summarizer"}), ("policy_verdict", {})],
        "after rejecting the handoff",
        id="rejected-then-executed",
    ),
]


@pytest.mark.parametrize(("before", "why"), RIGHTS)
def test_decision_rights(before: list[tuple[str, dict[str, Any]]], why: str | None) -> None:
    pipeline, agent = Pipeline(), Producer()
    for n, (kind, fields) in enumerate(before):
        assert pipeline.observe(agent.emit(kind, T0 + n, **fields), T0 + n) == []
    approval_id = "ap-1" if any(kind == "approval_granted" for kind, _ in before) else None
    executed = agent.emit("action_executed", T0 + 10, action=WRITE, approval_id=approval_id)
    found = pipeline.observe(executed, T0 + 10) + pipeline.tick(T0 + 15)
    assert [why in f.summary for f in found] == ([] if why is None else [True])
    assert [f.dedup_key for f in found] == (
        [] if why is None else [f"rights:wf-1:{executed.event_id}"]
    )


def test_silent_agent() -> None:
    pipeline, agent = Pipeline(), Producer()
    for n in range(5):
        pipeline.observe(agent.emit("heartbeat", T0 + 10 * n), T0 + 10 * n)
    assert pipeline.tick(T0 + 69) == []
    assert keys(pipeline.tick(T0 + 70)) == [("silence:analyst", False)]
    assert keys(pipeline.observe(agent.emit("heartbeat", T0 + 200), T0 + 200)) == [
        ("silence:analyst", True)
    ]


def test_sequence_gap() -> None:
    pipeline, agent = Pipeline(), Producer()
    pipeline.observe(agent.emit("decision_made", T0), T0)
    lost = agent.emit("decision_made", T0 + 1)
    pipeline.observe(agent.emit("decision_made", T0 + 2), T0 + 2)
    assert pipeline.tick(T0 + 31) == []
    assert keys(pipeline.tick(T0 + 32)) == [("sequence-gap:analyst:s-1:2", False)]
    assert keys(pipeline.observe(lost, T0 + 40)) == [("sequence-gap:analyst:s-1:2", True)]


# -- normal work: 10,000 events, no finding ----------------------------------------------


def normal_work(events: int) -> list[tuple[float, Producer, str, dict[str, Any]]]:
    """Cycles of 10 s: heartbeats on time, steady spend, handoffs offered and accepted,
    allowed verdicts before executions, approvals granted before approved writes, a few
    failures and single retries; one producer clock 3 h ahead, one 2 h behind."""
    planner = Producer("planner", skew=3 * 3600.0)
    analyst = Producer("analyst", skew=-2 * 3600.0)
    writer, approver = Producer("writer"), Producer("approver", owner="humans")
    work: list[tuple[float, Producer, str, dict[str, Any]]] = []
    cycle = 0
    while len(work) < events:
        t, wf, hid, ap = T0 + 10 * cycle, f"wf-{cycle}", f"h-{cycle}", f"ap-{cycle}"
        batch = [
            (t, planner, "heartbeat", {}),
            (t + 0.1, analyst, "heartbeat", {}),
            (t + 0.2, writer, "heartbeat", {}),
            (t + 1, planner, "spend", {"usd": 0.02}),
            (t + 2, planner, "handoff_offered", {"handoff_id": hid, "deadline": None}),
            (t + 3, analyst, "handoff_accepted", {"handoff_id": hid, "from_agent": "planner"}),
            (t + 4, analyst, "policy_verdict", {"action": WRITE, "effect": "allow"}),
            (t + 5, analyst, "action_executed", {"action": WRITE}),
            (t + 6, analyst, "spend", {"usd": 0.05, "action": "summarize"}),
            (t + 4, writer, "policy_verdict", {"action": ORDERS, "effect": "needs_approval"}),
            (t + 4.5, writer, "approval_requested", {"approval_id": ap, "action": ORDERS}),
            (t + 6, approver, "approval_granted", {"approval_id": ap}),
            (t + 7, writer, "action_executed", {"action": ORDERS, "approval_id": ap}),
            (t + 8, writer, "spend", {"usd": 0.01}),
        ]  # fmt: skip
        if cycle % 5 == 0:
            batch += [
                (t + 8.5, analyst, "action_failed", {"action": "api.call"}),
                (t + 9, analyst, "retry", {"operation_id": f"op-{cycle}", "attempt": 2}),
            ]
        if cycle % 7 == 0:
            batch.append((t + 9.5, writer, "escalation", {}))
        work += [(at, p, kind, {**fields, "workflow": wf}) for at, p, kind, fields in batch]
        cycle += 1
    return sorted(work[:events], key=lambda w: w[0])


def test_ten_thousand_normal_events_raise_nothing() -> None:
    pipeline = Pipeline()
    found: list[Finding] = []
    for n, (at, producer, kind, fields) in enumerate(normal_work(10_000)):
        event = producer.emit(kind, at, **fields)
        found += pipeline.observe(event, at + 0.2)
        if n % 40 == 0:
            found += pipeline.tick(at + 0.3)
    found += pipeline.tick(at + 5) + pipeline.tick(at + 20)
    assert found == []
    spend = pipeline.states["agent:analyst"]["spend"]["series"]["*"]
    assert spend["samples"] >= 60  # warmed up: drift was being judged
    assert sum(k.startswith("workflow:") for k in pipeline.states) > 600
