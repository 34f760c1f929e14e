"""Decision rights, per workflow: an execution is judged ``grace_s`` after it was seen, on
the verdicts, approvals and handoff rejections that arrived by then."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors.rights import DecisionRights
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from tests.support.observations import T0, obs

WRITE = "db.customers.write"
KEY = "rights:wf-1:exec"


def verdict(effect: str, at: float = T0, action: str = WRITE, **fields: object) -> Observation:
    return obs(
        "policy_verdict", at=at, action=action, effect=effect, event_id=f"v-{effect}", **fields
    )


def approval(kind: str, at: float = T0, **fields: object) -> Observation:
    return obs(f"approval_{kind}", at=at, approval_id="ap-1", event_id=f"ap-{kind}", **fields)


def rejected(agent: str = "analyst", at: float = T0) -> Observation:
    return obs("handoff_rejected", at=at, agent=agent, from_agent="summarizer", event_id="rej")


def execute(
    at: float = T0 + 10, action: str = WRITE, approval_id: str | None = None
) -> Observation:
    return obs("action_executed", at=at, action=action, approval_id=approval_id, event_id="exec")


def judge(
    before: list[Observation], executed: Observation, after: Sequence[Observation] = ()
) -> list[Finding]:
    """Observe ``before``, the execution (at processor T0 + 10), then ``after`` within the
    grace period; return what the tick at the end of the grace period finds."""
    detector, state = DecisionRights(DetectorRules()), {}
    for event in before:
        assert detector.observe(state, event, T0)[1] == []
    detector.observe(state, executed, T0 + 10)
    for event in after:
        detector.observe(state, event, T0 + 12)
    assert detector.tick(state, T0 + 14.9)[1] == []  # still within grace_s
    return detector.tick(state, T0 + 15)[1]


GRANTED = [approval("requested", action=WRITE), approval("granted")]
NEEDS = verdict("needs_approval")
EMAIL = "email.send"
UNAPPROVED = "after a needs_approval verdict without a granted approval"

CASES = [
    pytest.param([], execute(), "with no verdict, which the rules require", id="db-write-bare"),
    pytest.param([], execute(action=EMAIL), None, id="unguarded-action-bare"),
    pytest.param([verdict("allow")], execute(), None, id="allowed"),
    pytest.param([verdict("deny")], execute(), "after a deny verdict", id="denied"),
    pytest.param([NEEDS, *GRANTED], execute(approval_id="ap-1"), None, id="approved"),
    pytest.param([NEEDS, *GRANTED], execute(), None, id="approved-no-id"),
    pytest.param([NEEDS], execute(), UNAPPROVED, id="needs-approval"),
    pytest.param(
        [verdict("escalate")], execute(), "after a escalate verdict without a granted approval",
        id="escalate",
    ),
    pytest.param(
        [NEEDS, approval("requested", action=WRITE), approval("denied")],
        execute(approval_id="ap-1"), "under approval ap-1, which is denied", id="approval-denied",
    ),
    pytest.param(
        [NEEDS], execute(approval_id="ap-9"), "under approval ap-9, which is unknown",
        id="approval-unknown",
    ),
    pytest.param(
        [NEEDS, approval("requested", action="db.orders.delete"), approval("granted")],
        execute(), UNAPPROVED, id="approval-for-another-action",
    ),
    pytest.param(
        [rejected(), verdict("allow", action=EMAIL)], execute(action=EMAIL),
        "after rejecting the handoff it acts on", id="rejected-then-executed",
    ),
    pytest.param([rejected("writer"), verdict("allow")], execute(), None, id="other-rejected"),
    pytest.param([verdict("deny", agent="writer")], execute(action=EMAIL), None, id="other-deny"),
]  # fmt: skip


@pytest.mark.parametrize(("before", "executed", "why"), CASES)
def test_violation(before: list[Observation], executed: Observation, why: str | None) -> None:
    found = judge(before, executed)
    assert [f.summary for f in found] == (
        [] if why is None else [f"analyst executed {executed.payload['action']} {why}"]
    )
    for violation in found:
        assert (violation.dedup_key, violation.severity, violation.agent, violation.halt) == (
            KEY, "critical", "analyst", None,
        )  # fmt: skip
        assert violation.evidence[0] == "exec"
        assert not violation.resolved


def test_evidence_names_the_verdict() -> None:
    (violation,) = judge([verdict("deny")], execute())
    assert violation.evidence == ("exec", "v-deny")


LATE = [
    pytest.param([verdict("allow", at=T0 + 9)], id="verdict-after-the-execution"),
    pytest.param([verdict("needs_approval", at=T0 + 9), *GRANTED], id="approval"),
]  # fmt: skip


@pytest.mark.parametrize("after", LATE)
def test_late_verdicts_within_grace(after: list[Observation]) -> None:
    assert judge([], execute(), after) == []


def test_verdict_produced_after_the_execution_does_not_cover_it() -> None:
    (violation,) = judge([], execute(), [verdict("allow", at=T0 + 11)])
    assert "with no verdict" in violation.summary


def test_verdict_arriving_after_grace_is_too_late() -> None:
    detector, state = DecisionRights(DetectorRules()), {}
    detector.observe(state, execute(), T0)
    assert len(detector.tick(state, T0 + 5)[1]) == 1
    detector.observe(state, verdict("allow", at=T0 + 9), T0 + 6)
    assert detector.tick(state, T0 + 100)[1] == []  # judged once, never resolved


def test_violations_never_auto_resolve() -> None:
    detector, state = DecisionRights(DetectorRules()), {}
    detector.observe(state, execute(), T0)
    detector.tick(state, T0 + 5)
    for now in (T0 + 60, T0 + 3600, T0 + 90_000):
        assert detector.tick(state, now)[1] == []


def test_finished_workflow_is_forgotten() -> None:
    detector, state = DecisionRights(DetectorRules()), {}
    detector.observe(state, verdict("allow"), T0)
    detector.observe(state, execute(), T0)
    detector.tick(state, T0 + 5)
    assert detector.tick(state, T0 + 86_401)[0] == {}


@pytest.mark.parametrize(
    ("require", "expected"),
    [
        pytest.param(["email.*"], 1, id="required-by-override"),
        pytest.param([], 0, id="none-required"),
    ],
)
def test_require_verdict_overridden_by_action(require: list[str], expected: int) -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"action": "email.*", "set": {"rights": {"require_verdict": require}}}]}
    )
    detector, state = DecisionRights(overrides), {}
    detector.observe(state, execute(action="email.send"), T0)
    assert len(detector.tick(state, T0 + 5)[1]) == expected


def test_latest_verdict_by_time_wins() -> None:
    newer_deny = verdict("deny", at=T0 + 5)
    older_allow = verdict("allow", at=T0 + 1)
    assert len(judge([newer_deny, older_allow], execute())) == 1
