"""The processors' detectors wired for one process: keys, changed state, ticks, the clock."""

from __future__ import annotations

from typing import Any

from handrail.config.thresholds import DetectorRules
from handrail.embedded.detect import Detectors, ReadMark
from tests.support.samples import event_record

RULES = DetectorRules.model_validate(
    {"defaults": {"retry": {"max_retries": 3, "window_s": 4}, "handoff": {"deadline_s": 3}}}
)


def retries(n: int) -> list[Any]:
    return [
        event_record("retry", sequence=i, agent="payer", operation_id="op-1", attempt=i)
        for i in range(1, n + 1)
    ]


def test_a_retry_storm_is_found_once_and_its_state_marked_changed() -> None:
    state: dict[str, Any] = {}
    detectors = Detectors(RULES, state)
    findings = detectors.observe(retries(5), now=100.0)
    assert [f.dedup_key for f in findings] == ["retry-storm:payer:op-1"]
    assert findings[0].halt == "operation"
    assert detectors.take_changed() == {"agent:payer"}
    assert detectors.take_changed() == set()
    assert "agent:payer" in state


def test_a_duplicate_event_is_judged_once() -> None:
    detectors = Detectors(RULES, {})
    events = retries(3)
    assert detectors.observe(events, now=100.0) == []
    assert detectors.observe(events[-1:] + events[-1:], now=100.0) == []  # not a 4th retry


def test_a_tick_past_the_deadline_reveals_a_stalled_handoff() -> None:
    state: dict[str, Any] = {}
    detectors = Detectors(RULES, state)
    offer = event_record("handoff_offered", agent="intake", to_agent="sleeper", deadline=None)
    detectors.observe([offer], now=100.0)
    assert detectors.tick(now=102.0) == []
    detectors.take_changed()
    stalled = detectors.tick(now=104.0)
    assert [f.dedup_key for f in stalled] == ["handoff-stalled:intake->sleeper:h-1"]
    assert "agent:sleeper" in detectors.take_changed()


def test_the_read_mark_is_the_wall_clock_once_caught_up_and_stands_still_behind() -> None:
    mark = ReadMark()
    assert mark.update(caught_up=False, now=10.0) is None
    assert mark.update(caught_up=True, now=11.0) == 11.0
    assert mark.update(caught_up=False, now=15.0) == 11.0  # a backlog: time stands still
    assert mark.update(caught_up=True, now=9.0) == 11.0  # never back
    assert mark.update(caught_up=True, now=16.0) == 16.0
