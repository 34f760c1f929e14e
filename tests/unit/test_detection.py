"""Detection by key: ``routes`` and ``Detection`` dispatch events to the detectors of each
state key, skip duplicates, and tick absence. States pass through JSON between steps."""

from __future__ import annotations

import pytest

from handrail.processors.detection import routes
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from tests.support.observations import T0, Pipeline, Producer, obs

ANALYST, WORKFLOW = "agent:analyst", "workflow:wf-1"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(obs("heartbeat"), [ANALYST], id="heartbeat"),
        pytest.param(obs("retry"), [ANALYST], id="retry"),
        pytest.param(obs("spend"), [ANALYST], id="spend"),
        pytest.param(obs("action_failed"), [ANALYST], id="action-failed"),
        pytest.param(obs("escalation"), [ANALYST], id="escalation"),
        pytest.param(obs("decision_made"), [ANALYST], id="decision"),
        pytest.param(
            obs("handoff_offered", to_agent="writer"),
            [ANALYST, "agent:writer", WORKFLOW],
            id="offer",
        ),
        pytest.param(
            obs("handoff_offered", to_agent="analyst"), [ANALYST, WORKFLOW], id="offer-to-self"
        ),
        pytest.param(obs("handoff_accepted"), [ANALYST, WORKFLOW], id="accepted"),
        pytest.param(obs("decision_made", cause="e-1"), [ANALYST, WORKFLOW], id="caused-link"),
        pytest.param(obs("spend", cause="e-1"), [ANALYST, WORKFLOW], id="caused-spend"),
        pytest.param(obs("heartbeat", cause="e-1"), [ANALYST], id="caused-heartbeat"),
        pytest.param(obs("handoff_rejected"), [ANALYST, WORKFLOW], id="rejected"),
        pytest.param(obs("policy_verdict"), [ANALYST, WORKFLOW], id="verdict"),
        pytest.param(obs("action_executed"), [ANALYST, WORKFLOW], id="executed"),
        pytest.param(obs("approval_requested"), [ANALYST, WORKFLOW], id="approval-requested"),
        pytest.param(obs("approval_granted"), [ANALYST, WORKFLOW], id="approval-granted"),
        pytest.param(obs("approval_denied"), [ANALYST, WORKFLOW], id="approval-denied"),
        pytest.param(obs("approval_expired"), [ANALYST, WORKFLOW], id="approval-expired"),
    ],
)
def test_routes(event: Observation, expected: list[str]) -> None:
    assert routes(event) == expected


def keys(found: list[Finding]) -> list[tuple[str, bool]]:
    return [(f.dedup_key, f.resolved) for f in found]


# -- duplicates: the same event twice counts once, alerts once ---------------------------


def twice(pipeline: Pipeline, event: Observation, now: float) -> list[Finding]:
    return pipeline.observe(event, now) + pipeline.observe(event, now + 0.5)


def test_duplicate_retries_count_once() -> None:
    pipeline, agent = Pipeline(), Producer()
    found: list[Finding] = []
    for n in range(5):
        found += twice(pipeline, agent.emit("retry", T0 + n), T0 + n)
    assert found == []
    assert len(pipeline.states[ANALYST]["retry_storm"]["ops"]["op-1"]["retries"]) == 5
    storm = twice(pipeline, agent.emit("retry", T0 + 5), T0 + 5)
    assert [(f.dedup_key, f.halt) for f in storm] == [("retry-storm:analyst:op-1", "operation")]


def test_duplicate_spend_counts_once() -> None:
    pipeline, agent = Pipeline(), Producer()
    found = twice(pipeline, agent.emit("spend", T0, usd=9.0), T0)
    assert keys(found) == [("spend-cap:analyst:*", False)]
    series = pipeline.states[ANALYST]["spend"]["series"]["*"]
    assert sum(series["buckets"].values()) == 9.0


def test_duplicate_rejections_count_once() -> None:
    pipeline, agent = Pipeline(), Producer()
    found: list[Finding] = []
    for n, kind in enumerate(["handoff_accepted"] * 5 + ["handoff_rejected"]):
        event = agent.emit(kind, T0 + n, handoff_id=f"h{n}", from_agent="summarizer")
        found += twice(pipeline, event, T0 + n)
    assert found == []  # 1 of 6 (17%), not 2 of 7 (29%)
    edge = pipeline.states[ANALYST]["handoffs"]["edges"]["summarizer->analyst"]
    answers, rejections = map(sum, zip(*edge["counts"].values(), strict=True))
    assert (answers, rejections, len(edge["rejected"])) == (6, 1, 1)


def test_duplicate_execution_is_judged_once() -> None:
    pipeline = Pipeline()
    found = twice(pipeline, Producer().emit("action_executed", T0), T0)
    found += pipeline.tick(T0 + 5) + pipeline.tick(T0 + 60)
    assert keys(found) == [("rights:wf-1:" + found[0].evidence[0], False)]


@pytest.mark.parametrize(
    "answered_at",
    [
        pytest.param(400.0, id="answered-before-the-new-deadline-resolve-lost"),
        pytest.param(800.0, id="answered-after-it-stalls-twice"),
    ],
)
def test_duplicate_offer_stalls_once_and_still_resolves(answered_at: float) -> None:
    pipeline, sender = Pipeline(), Producer("summarizer")
    offer = sender.emit("handoff_offered", T0)
    found = pipeline.observe(offer, T0) + pipeline.tick(T0 + 300)
    found += pipeline.observe(offer, T0 + 310)  # redelivered
    found += pipeline.tick(T0 + answered_at - 1)
    answer = Producer().emit("handoff_accepted", T0 + answered_at, from_agent="summarizer")
    found += pipeline.observe(answer, T0 + answered_at)
    stalled = "handoff-stalled:summarizer->analyst:h-1"
    assert keys(found) == [(stalled, False), (stalled, True)]


def test_answer_before_offer_on_other_keys() -> None:
    pipeline = Pipeline()
    answer = Producer().emit("handoff_accepted", T0 + 1, from_agent="summarizer")
    offer = Producer("summarizer").emit("handoff_offered", T0)
    found = pipeline.observe(answer, T0) + pipeline.observe(offer, T0 + 1)
    assert found + pipeline.tick(T0 + 10_000) == []


def test_workflow_state_goes_when_done() -> None:
    pipeline = Pipeline()
    pipeline.observe(Producer().emit("policy_verdict", T0), T0)
    pipeline.tick(T0 + 86_401)
    assert WORKFLOW not in pipeline.states
