"""Silence: an agent that heartbeats, then stops, for ``missed_heartbeats`` (3) of its
interval, measured on the processor's clock."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors import State
from handrail.processors.detectors.silence import Silence
from handrail.processors.findings import Finding
from tests.support.observations import T0, obs

KEY = "silence:analyst"


def beat(
    detector: Silence, state: State, now: float, *, skew: float = 0.0, **fields: object
) -> list[Finding]:
    event = obs("heartbeat", at=now + skew, event_id=f"hb{now - T0:.0f}", **fields)
    return detector.observe(state, event, now)[1]


@pytest.mark.parametrize(
    ("interval", "silent_after"),
    [
        pytest.param(10.0, 30.0, id="own-interval"),
        pytest.param(None, 180.0, id="default-interval"),
    ],
)
def test_silent_after_missed_heartbeats(interval: float | None, silent_after: float) -> None:
    detector, state = Silence(DetectorRules()), {}
    assert beat(detector, state, T0, interval_s=interval) == []
    assert detector.tick(state, T0 + silent_after - 1)[1] == []
    (silent,) = detector.tick(state, T0 + silent_after)[1]
    assert (silent.dedup_key, silent.severity, silent.agent, silent.evidence) == (
        KEY, "critical", "analyst", ("hb0",),
    )  # fmt: skip
    assert (
        silent.summary == "analyst stopped heartbeating: its session missed 3 heartbeats in a row"
    )
    assert detector.tick(state, T0 + 10_000)[1] == []  # once


def test_resolves_when_heartbeats_return() -> None:
    detector, state = Silence(DetectorRules()), {}
    beat(detector, state, T0)
    detector.tick(state, T0 + 30)
    (back,) = beat(detector, state, T0 + 100)
    assert (back.dedup_key, back.resolved) == (KEY, True)
    assert beat(detector, state, T0 + 110) == []
    assert detector.tick(state, T0 + 129)[1] == []


def test_steady_heartbeats_never_alert() -> None:
    detector, state = Silence(DetectorRules()), {}
    found: list[Finding] = []
    for n in range(100):
        found += beat(detector, state, T0 + n * 10)
        found += detector.tick(state, T0 + n * 10 + 9)[1]
    assert found == []


def test_a_stopped_session_owes_no_heartbeat() -> None:
    detector, state = Silence(DetectorRules()), {}
    beat(detector, state, T0)
    beat(detector, state, T0 + 5, status="stopped")
    assert detector.tick(state, T0 + 10_000)[1] == []


def test_one_live_session_is_enough() -> None:
    detector, state = Silence(DetectorRules()), {}
    detector.observe(state, obs("heartbeat", session="old", interval_s=10.0), T0)
    for n in range(10):
        detector.observe(state, obs("heartbeat", session="new", interval_s=10.0), T0 + n * 10)
    assert detector.tick(state, T0 + 100)[1] == []


def test_an_agent_that_never_heartbeats_is_not_watched() -> None:
    state: State = {}
    detector = Silence(DetectorRules())
    detector.observe(state, obs("spend"), T0)
    assert detector.tick(state, T0 + 10_000)[1] == []


@pytest.mark.parametrize("skew", [-3 * 3600.0, 3 * 3600.0], ids=["behind", "ahead"])
def test_producer_clock_skew_neither_fakes_nor_hides_silence(skew: float) -> None:
    detector, state = Silence(DetectorRules()), {}
    for n in range(10):
        assert beat(detector, state, T0 + n * 10, skew=skew) == []
        assert detector.tick(state, T0 + n * 10 + 9)[1] == []
    assert detector.tick(state, T0 + 90 + 29)[1] == []
    assert [f.dedup_key for f in detector.tick(state, T0 + 90 + 30)[1]] == [KEY]


def test_missed_heartbeats_overridden_by_agent() -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"agent": "analy*", "set": {"silence": {"missed_heartbeats": 10}}}]}
    )
    detector, state = Silence(overrides), {}
    beat(detector, state, T0)
    assert detector.tick(state, T0 + 99)[1] == []
    assert len(detector.tick(state, T0 + 100)[1]) == 1


@pytest.mark.parametrize(
    "interval",
    [float("nan"), float("inf"), float("-inf"), -10.0, 0.0, 1e308, "nan", "inf"],
    ids=["nan", "inf", "-inf", "negative", "zero", "overflows", "nan-by-name", "inf-by-name"],
)
def test_an_interval_that_is_no_positive_number_counts_as_unsaid(interval: object) -> None:
    """The rules' interval (60 s, 3 missed) applies: a hostile interval neither hides
    silence nor puts a non-number in the state."""
    detector, state = Silence(DetectorRules()), {}
    assert beat(detector, state, T0, interval_s=interval) == []
    assert state["sessions"] == {"s-1": T0 + 180.0}
    assert detector.tick(state, T0 + 179)[1] == []
    assert [f.dedup_key for f in detector.tick(state, T0 + 180)[1]] == [KEY]


def test_a_deadline_an_older_version_saved_as_null_starts_over_at_the_next_tick() -> None:
    """Earlier versions kept ``now + inf`` (or NaN), which JSON turned into null."""
    detector, state = Silence(DetectorRules()), {}
    beat(detector, state, T0, session="live")
    state["sessions"]["odd"] = None
    assert detector.tick(state, T0 + 100)[1] == []  # an earlier version: TypeError
    assert state["sessions"] == {"live": T0 + 30.0, "odd": T0 + 100 + 180.0}
    assert detector.tick(state, T0 + 279)[1] == []
    assert [f.dedup_key for f in detector.tick(state, T0 + 280)[1]] == [KEY]
