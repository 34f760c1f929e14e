"""Retry storms: one operation retried beyond its budget within the window (halt the
operation), an agent's retries across operations beyond its rate; both clear when quiet."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors import State
from handrail.processors.detectors.retries import RetryStorm
from handrail.processors.findings import Finding
from tests.support.observations import T0, obs, rules

KEY = "retry-storm:analyst:op-1"


def retries(
    detector: RetryStorm, state: State, times: list[float], *, skew: float = 0.0, **fields: str
) -> list[Finding]:
    """Retries of one operation at processor times ``times`` (producer clock + ``skew``)."""
    found: list[Finding] = []
    for n, t in enumerate(times, 2):
        retry = obs("retry", at=t + skew, attempt=n, event_id=f"r{n}", **fields)
        found += detector.observe(state, retry, t)[1]
    return found


@pytest.mark.parametrize(
    ("count", "spacing", "expected"),
    [
        pytest.param(5, 1.0, 0, id="at-budget"),
        pytest.param(6, 1.0, 1, id="one-over-budget"),
        pytest.param(20, 1.0, 1, id="storm-alerts-once"),
        pytest.param(12, 200.0, 0, id="spread-beyond-window"),
        pytest.param(6, 119.0, 1, id="just-within-window"),
    ],
)
def test_storm_fires_once_over_budget(count: int, spacing: float, expected: int) -> None:
    found = retries(RetryStorm(DetectorRules()), {}, [T0 + i * spacing for i in range(count)])
    assert [f.dedup_key for f in found] == [KEY] * expected


def test_storm_finding_halts_the_operation() -> None:
    (storm,) = retries(RetryStorm(DetectorRules()), {}, [T0 + i for i in range(6)])
    assert (storm.detector, storm.severity, storm.halt) == ("retry_storm", "critical", "operation")
    assert (storm.agent, storm.owner, storm.operation, storm.workflow_id) == (
        "analyst", "team-data", "op-1", "wf-1",
    )  # fmt: skip
    assert storm.evidence == ("r2", "r3", "r4", "r5", "r6", "r7")
    assert "6 times within 10m (budget 5)" in storm.summary
    assert not storm.resolved


def test_other_operations_do_not_count() -> None:
    detector, state = RetryStorm(DetectorRules()), {}
    found = retries(detector, state, [T0 + i for i in range(5)], operation_id="op-1")
    found += retries(detector, state, [T0 + 10 + i for i in range(5)], operation_id="op-2")
    assert found == []


def test_resolves_after_a_quiet_window() -> None:
    detector, state = RetryStorm(DetectorRules()), {}
    retries(detector, state, [T0 + i for i in range(6)])
    last = T0 + 5
    assert detector.tick(state, last + 599)[1] == []
    (cleared,) = detector.tick(state, last + 600)[1]
    assert (cleared.dedup_key, cleared.resolved, cleared.operation) == (KEY, True, "op-1")
    assert cleared.halt is None
    assert detector.tick(state, last + 1200)[1] == []
    assert state.get("ops") == {}
    assert "agent" not in state


def test_storm_after_resolution_alerts_again() -> None:
    detector, state = RetryStorm(DetectorRules()), {}
    retries(detector, state, [T0 + i for i in range(6)])
    detector.tick(state, T0 + 5 + 600)
    again = retries(detector, state, [T0 + 1000 + i for i in range(6)])
    assert [(f.dedup_key, f.resolved) for f in again] == [(KEY, False)]


def test_agent_rate_over_many_operations() -> None:
    detector, state = RetryStorm(rules(retry={"agent_max_retries": 4})), {}
    found: list[Finding] = []
    for n in range(6):
        retry = obs("retry", at=T0 + n, operation_id=f"op-{n}", event_id=f"r{n}")
        found += detector.observe(state, retry, T0 + n)[1]
    (rate,) = found
    assert (rate.dedup_key, rate.severity, rate.halt, rate.operation) == (
        "retry-rate:analyst", "warning", None, None,
    )  # fmt: skip
    assert rate.evidence == ("r0", "r1", "r2", "r3", "r4")
    (cleared,) = detector.tick(state, T0 + 5 + 600)[1][-1:]
    assert (cleared.dedup_key, cleared.resolved) == ("retry-rate:analyst", True)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        pytest.param("api.call", [KEY], id="overridden-action"),
        pytest.param("llm.chat", [], id="other"),
    ],
)
def test_budget_overridden_by_action(action: str, expected: list[str]) -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"action": "api.*", "set": {"retry": {"max_retries": 2}}}]}
    )
    found = retries(RetryStorm(overrides), {}, [T0, T0 + 1, T0 + 2], action=action)
    assert [f.dedup_key for f in found] == expected


@pytest.mark.parametrize("skew", [-3 * 3600.0, 3 * 3600.0], ids=["behind", "ahead"])
def test_producer_clock_skew(skew: float) -> None:
    detector, state = RetryStorm(DetectorRules()), {}
    assert retries(detector, state, [T0 + i * 200 for i in range(12)], skew=skew) == []
    storm = retries(detector, state, [T0 + 3000 + i for i in range(6)], skew=skew)
    assert [f.dedup_key for f in storm] == [KEY]
    # quiet is measured on the processor's clock, whatever the producer's says
    assert detector.tick(state, T0 + 3005 + 599)[1] == []
    assert [f.resolved for f in detector.tick(state, T0 + 3005 + 600)[1]] == [True]
