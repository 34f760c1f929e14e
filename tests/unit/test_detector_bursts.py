"""Bursts: more than ``max_errors`` failed actions (10) or ``max_escalations`` (5) from
one agent within the window (60 s); they calm down below half the limit."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors import State
from handrail.processors.detectors.bursts import Bursts
from handrail.processors.findings import Finding
from tests.support.observations import T0, obs


def burst(
    detector: Bursts, state: State, kind: str, count: int, *, every: float = 1.0,
    start: float = T0, skew: float = 0.0,
) -> list[Finding]:  # fmt: skip
    found: list[Finding] = []
    for n in range(count):
        now = start + n * every
        event = obs(kind, at=now + skew, event_id=f"{kind}{n}")
        found += detector.observe(state, event, now)[1]
    return found


@pytest.mark.parametrize(
    ("kind", "count", "every", "expected"),
    [
        pytest.param("action_failed", 10, 1.0, [], id="errors-at-limit"),
        pytest.param("action_failed", 11, 1.0, ["errors-burst:analyst"], id="errors-over"),
        pytest.param("action_failed", 40, 1.0, ["errors-burst:analyst"], id="errors-once"),
        pytest.param("action_failed", 40, 7.0, [], id="errors-spread-out"),
        pytest.param("escalation", 5, 1.0, [], id="escalations-at-limit"),
        pytest.param("escalation", 6, 1.0, ["escalations-burst:analyst"], id="escalations-over"),
        pytest.param("retry", 40, 1.0, [], id="other-kinds"),
    ],
)
def test_burst(kind: str, count: int, every: float, expected: list[str]) -> None:
    found = burst(Bursts(DetectorRules()), {}, kind, count, every=every)
    assert [f.dedup_key for f in found] == expected
    for alert in found:
        assert (alert.severity, alert.agent, alert.halt, alert.resolved) == (
            "warning", "analyst", None, False,
        )  # fmt: skip


def test_burst_finding() -> None:
    (alert,) = burst(Bursts(DetectorRules()), {}, "escalation", 6)
    assert alert.evidence == tuple(f"escalation{n}" for n in range(6))
    assert alert.summary == "analyst: 6 escalations within 1m (limit 5)"


@pytest.mark.parametrize("skew", [0.0, -3 * 3600.0, 3 * 3600.0], ids=["none", "behind", "ahead"])
def test_calms_down(skew: float) -> None:
    detector, state = Bursts(DetectorRules()), {}
    burst(detector, state, "action_failed", 11, skew=skew)  # the last at T0 + 10
    assert detector.tick(state, T0 + 60)[1] == []  # the window still holds 10
    assert detector.tick(state, T0 + 66)[1] == []  # 5 within 60 s: not below half
    (calm,) = detector.tick(state, T0 + 67)[1]  # 4
    assert (calm.dedup_key, calm.resolved) == ("errors-burst:analyst", True)
    assert detector.tick(state, T0 + 1000)[1] == []


def test_max_errors_overridden_by_agent() -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"agent": "analyst", "set": {"bursts": {"max_errors": 2}}}]}
    )
    assert len(burst(Bursts(overrides), {}, "action_failed", 3)) == 1
