"""The processors' detectors wired for one process: keys, changed state, ticks, the clock."""

from __future__ import annotations

from typing import Any

from handrail.config.thresholds import DetectorRules
from handrail.embedded.detect import ReadMark
from handrail.processors.keyed import KeyedDetectors
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
    detectors = KeyedDetectors(RULES, state)
    findings = detectors.observe_events(retries(5), now=100.0)
    assert [f.dedup_key for f in findings] == ["retry-storm:payer:op-1"]
    assert findings[0].halt == "operation"
    assert detectors.write() == {"agent:payer"}
    assert detectors.write() == set()
    assert "agent:payer" in state


def test_a_duplicate_event_is_judged_once() -> None:
    detectors = KeyedDetectors(RULES, {})
    events = retries(3)
    assert detectors.observe_events(events, now=100.0) == []
    assert detectors.observe_events(events[-1:] + events[-1:], now=100.0) == []  # not a 4th retry


def test_a_tick_past_the_deadline_reveals_a_stalled_handoff() -> None:
    state: dict[str, Any] = {}
    detectors = KeyedDetectors(RULES, state)
    offer = event_record("handoff_offered", agent="intake", to_agent="sleeper", deadline=None)
    detectors.observe_events([offer], now=100.0)
    assert detectors.tick(0, now=102.0) == []
    detectors.write()
    stalled = detectors.tick(0, now=104.0)
    assert [f.dedup_key for f in stalled] == ["handoff-stalled:intake->sleeper:h-1"]
    assert "agent:sleeper" in detectors.write()


def test_the_read_mark_is_the_wall_clock_once_caught_up_and_stands_still_behind() -> None:
    mark = ReadMark()
    assert mark.update(caught_up=False, now=10.0) is None
    assert mark.update(caught_up=True, now=11.0) == 11.0
    assert mark.update(caught_up=False, now=15.0) == 11.0  # a backlog: time stands still
    assert mark.update(caught_up=True, now=9.0) == 11.0  # never back
    assert mark.update(caught_up=True, now=16.0) == 16.0


def test_judging_writes_no_state_until_the_findings_are_out() -> None:
    """The worker sends a finding before the state that remembers it reaches the changelog:
    a crash in between repeats the alert (its dedup key makes that harmless), never loses
    it. So the host changes nothing in its store until ``write``."""
    store: dict[str, Any] = {}
    detectors = KeyedDetectors(RULES, store)
    assert detectors.observe_events(retries(5), now=100.0) != []
    assert store == {}
    assert detectors.write() == {"agent:payer"}
    written = store["agent:payer"]
    detectors.tick(0, now=100.5)  # nothing new: an unchanged state is not written again
    assert detectors.write() == set()
    assert store["agent:payer"] is written


def test_the_keyed_partitions_tick_only_their_own_keys() -> None:
    detectors = KeyedDetectors(RULES, {}, partitions=4)
    offers = [
        event_record("handoff_offered", agent="intake", to_agent=f"r{n}", handoff_id=f"h-{n}",
                     sequence=n, deadline=None)
        for n in range(1, 9)
    ]  # fmt: skip
    detectors.observe_events(offers, now=100.0)
    detectors.write()
    stalled = {p: detectors.tick(p, now=110.0) for p in range(4)}
    by_partition = {
        p: {f.dedup_key.split("->")[1].split(":")[0] for f in found} for p, found in stalled.items()
    }
    for p, receivers in by_partition.items():
        assert all(detectors.partition(f"agent:{r}") == p for r in receivers)
    assert set().union(*by_partition.values()) == {f"r{n}" for n in range(1, 9)}
