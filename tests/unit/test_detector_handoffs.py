"""Handoffs, kept under the receiver: the rejection rate of an edge, every rejection on a
critical edge, and offers nobody answered in time (stalled)."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.humanize import duration
from handrail.processors.detectors import State
from handrail.processors.detectors.handoffs import Handoffs
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from tests.support.observations import T0, obs

EDGE = "summarizer->analyst"
RATE = f"handoff-reject-rate:{EDGE}"
STALLED = f"handoff-stalled:{EDGE}:h-1"


def offer(at: float = T0, handoff_id: str = "h-1", **fields: object) -> Observation:
    return obs(
        "handoff_offered", at=at, agent="summarizer", owner="team-sum",
        handoff_id=handoff_id, to_agent="analyst", event_id=f"offer-{handoff_id}", **fields,
    )  # fmt: skip


def answer(ok: bool, at: float = T0, handoff_id: str = "h-1") -> Observation:
    kind = "handoff_accepted" if ok else "handoff_rejected"
    return obs(kind, at=at, handoff_id=handoff_id, from_agent="summarizer", event_id=handoff_id)


def answers(detector: Handoffs, state: State, pattern: str, start: float = T0) -> list[Finding]:
    """``pattern``: one letter an answer, ``a`` accepted, ``r`` rejected, a second apart."""
    found: list[Finding] = []
    for n, letter in enumerate(pattern):
        event = answer(letter == "a", start + n, handoff_id=f"h{start + n:.0f}")
        found += detector.observe(state, event, start + n)[1]
    return found


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param("aaaaaaaaar", [], id="10%"),
        pytest.param("aaaaar", [], id="17%"),
        pytest.param("raaaa", [RATE], id="20%-at-limit"),
        pytest.param("rrrr", [], id="below-min-answers"),
        pytest.param("aaraaraara", [RATE], id="30%-alerts-once"),
        pytest.param("rrrrrrrrrr", [RATE], id="all-rejected-alerts-once"),
    ],
)
def test_reject_rate(pattern: str, expected: list[str]) -> None:
    found = answers(Handoffs(DetectorRules()), {}, pattern)
    assert [f.dedup_key for f in found] == expected


def test_reject_rate_finding() -> None:
    (rate,) = answers(Handoffs(DetectorRules()), {}, "aaaaaarr")
    assert (rate.agent, rate.severity, rate.halt, rate.resolved) == (
        "analyst", "warning", None, False,
    )  # fmt: skip
    assert rate.evidence == (f"h{T0 + 6:.0f}", f"h{T0 + 7:.0f}")
    assert f"2 of the last 8 handoffs on {EDGE} were rejected (25%, limit 20%)" in rate.summary
    assert rate.summary.endswith("; the latest rejection: no id")


def test_a_reject_rate_tipped_by_an_acceptance_names_the_latest_rejection() -> None:
    (rate,) = answers(Handoffs(DetectorRules()), {}, "rrrra")  # the 5th answer reaches the minimum
    assert rate.summary.endswith("(80%, limit 20%); the latest rejection: no id"), rate.summary


def test_reject_rate_resolves_below_half_the_limit() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    answers(detector, state, "rraaa")
    assert answers(detector, state, "a" * 15, start=T0 + 5) == []  # 2 of 20: not below 10%
    (cleared,) = answers(detector, state, "a", start=T0 + 20)  # 2 of 21
    assert (cleared.dedup_key, cleared.resolved) == (RATE, True)


def test_reject_rate_resolves_when_rejections_leave_the_window() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    answers(detector, state, "rrraaaaaaa")
    (cleared,) = answers(detector, state, "a", start=T0 + 2000)
    assert (cleared.dedup_key, cleared.resolved) == (RATE, True)


def test_rejections_outside_the_window_do_not_count() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    answers(detector, state, "r")
    assert answers(detector, state, "aaaaa", start=T0 + 1000) == []


def test_edges_are_counted_apart() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    answers(detector, state, "aaaaa")
    other = [
        obs("handoff_rejected", at=T0 + n, handoff_id=f"x{n}", from_agent="planner")
        for n in range(5)
    ]
    found = [f for event in other for f in detector.observe(state, event, T0 + 10)[1]]
    assert [f.dedup_key for f in found] == ["handoff-reject-rate:planner->analyst"]


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        pytest.param(EDGE, [f"handoff-rejected:{EDGE}:h-1"], id="critical-edge"),
        pytest.param("planner->*", [], id="other-edge"),
    ],
)
def test_every_rejection_on_a_critical_edge(edge: str, expected: list[str]) -> None:
    critical = DetectorRules.model_validate(
        {"overrides": [{"edge": edge, "set": {"handoff": {"critical": True}}}]}
    )
    found = Handoffs(critical).observe({}, answer(False), T0)[1]
    assert [f.dedup_key for f in found] == expected
    for rejection in found:
        assert (rejection.severity, rejection.agent, rejection.evidence) == (
            "critical", "analyst", ("h-1",),
        )  # fmt: skip
        assert rejection.summary.endswith(": no id")


# -- stalled -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "deadline_in", "due_in"),
    [
        pytest.param(0.0, None, 300.0, id="default-deadline"),
        pytest.param(0.0, 60.0, 60.0, id="offer-deadline"),
        pytest.param(3 * 3600.0, 60.0, 60.0, id="sender-clock-ahead"),
        pytest.param(-3 * 3600.0, 60.0, 60.0, id="sender-clock-behind"),
        pytest.param(0.0, -10.0, 0.0, id="deadline-already-past"),
    ],
)
def test_stalled_once_past_the_deadline(
    skew: float, deadline_in: float | None, due_in: float
) -> None:
    detector, state = Handoffs(DetectorRules()), {}
    deadline = None if deadline_in is None else T0 + skew + deadline_in
    detector.observe(state, offer(T0 + skew, deadline=deadline), T0)
    if due_in:
        assert detector.tick(state, T0 + due_in - 1)[1] == []
    (stalled,) = detector.tick(state, T0 + due_in)[1]
    assert (stalled.dedup_key, stalled.agent, stalled.severity, stalled.evidence) == (
        STALLED, "analyst", "warning", ("offer-h-1",),
    )  # fmt: skip
    assert f"neither accepted nor rejected within {duration(due_in)}" in stalled.summary
    assert detector.tick(state, T0 + 10_000)[1] == []


@pytest.mark.parametrize("deadline", ["nan", "inf", float("nan"), float("inf"), True])
def test_a_deadline_that_is_no_time_gives_the_rules_deadline(deadline: object) -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, offer(deadline=deadline), T0)
    assert detector.tick(state, T0 + 299)[1] == []
    assert [f.dedup_key for f in detector.tick(state, T0 + 300)[1]] == [STALLED]


def test_a_deadline_measured_on_the_senders_clock_reads_in_whole_seconds() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, offer(T0, deadline=T0 + 5.99988), T0)  # the demo's 6 s, as sent
    (stalled,) = detector.tick(state, T0 + 6)[1]
    assert stalled.summary.endswith("was neither accepted nor rejected within 6s")


def test_stalled_resolves_when_finally_answered() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, offer(), T0)
    detector.tick(state, T0 + 300)
    found = detector.observe(state, answer(True, T0 + 400), T0 + 400)[1]
    assert [(f.dedup_key, f.resolved) for f in found] == [(STALLED, True)]
    assert detector.tick(state, T0 + 10_000)[1] == []


def test_stalled_raised_and_resolved_for_one_owner() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, offer(), T0)
    (stalled,) = detector.tick(state, T0 + 300)[1]
    (cleared,) = detector.observe(state, answer(True, T0 + 400), T0 + 400)[1]
    assert cleared.owner == stalled.owner


@pytest.mark.parametrize("ok", [True, False], ids=["accepted", "rejected"])
def test_answered_in_time_never_stalls(ok: bool) -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, offer(), T0)
    assert detector.observe(state, answer(ok, T0 + 10), T0 + 10)[1] == []
    assert detector.tick(state, T0 + 10_000)[1] == []
    assert state["pending"] == {}


def test_answer_before_its_offer() -> None:
    detector, state = Handoffs(DetectorRules()), {}
    detector.observe(state, answer(True), T0)
    detector.observe(state, offer(), T0 + 1)
    assert detector.tick(state, T0 + 10_000)[1] == []
