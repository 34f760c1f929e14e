"""Hostile numbers (NaN, ±inf, negatives, extremes) in every numeric payload field: the
detectors take them without raising, and their state holds finite numbers only, so it goes
through JSON (the embedded journal, the Faust changelog) and comes back the same. State an
earlier version saved with ``null`` in place of such a number is restored and judged on."""

from __future__ import annotations

import logging
import math
import typing
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.embedded.journal import Journal
from handrail.processors.detection import Detection, routes
from handrail.processors.detectors import State
from handrail.processors.findings import Finding
from handrail.processors.keyed import KeyedDetectors
from handrail.processors.observation import Observation
from handrail.schemas import PAYLOAD_TYPES, EventRecord
from tests.support.observations import rules, through_keyed_topic
from tests.support.samples import NOW, event_record

RULES = rules(
    spend={"bucket_s": 10, "short_window_s": 30, "long_window_s": 60, "warmup_buckets": 2},
    retry={"max_retries": 1, "window_s": 30},
    silence={"gap_grace_s": 5},
)
FLOATS = [float("nan"), float("inf"), float("-inf"), -1.0, -1e308, 1e308, 5e-324]
INTS = [-1, -(2**31), 2**31 - 1, 0]


def numeric_fields() -> list[tuple[str, str, Any]]:
    """(kind, field, hostile value) for every int or float field of every payload."""
    cases = []
    for kind, model in PAYLOAD_TYPES.items():
        for name, field in model.model_fields.items():
            types = typing.get_args(field.annotation) or (field.annotation,)
            if float in types:
                cases += [(kind, name, value) for value in FLOATS]
            elif int in types:
                cases += [(kind, name, value) for value in INTS]
    return cases


def finite_only(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_only(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_only(v) for v in value)
    return True


def through_json(state: State) -> State:
    """The state as the journal or the changelog gives it back; it must be the same."""
    assert finite_only(state), state
    back: State = orjson.loads(orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS))
    assert back == state
    return back


def test_the_hostile_cases_cover_the_numbers_detectors_read() -> None:
    covered = {(kind, name) for kind, name, _ in numeric_fields()}
    assert {("spend", "usd"), ("heartbeat", "interval_s"), ("retry", "attempt")} <= covered
    assert ("action_executed", "duration_ms") in covered


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}={case[2]!r}") for case in numeric_fields()],
)
def test_a_hostile_number_leaves_state_that_round_trips_through_json(
    kind: str, field: str, value: Any
) -> None:
    """The event, twice and among ordinary ones, as the worker sees it (decoded once, sent
    through the keyed topic as JSON), then ticks long after: nothing raises."""
    detection, states = Detection(RULES), {}
    events = [
        event_record("spend", sequence=1, agent="analyst", usd=1.0),
        event_record(kind, sequence=2, agent="analyst", **{field: value}),
        event_record(kind, sequence=3, agent="analyst", **{field: value}),
        event_record("heartbeat", sequence=5, agent="analyst", interval_s=10.0),  # a gap
    ]
    start = NOW.timestamp()
    for n, record in enumerate(events):
        obs = through_keyed_topic(Observation.from_record(record))
        for key in routes(obs):
            state = states.get(key, {})
            detection.observe(key, state, obs, start + n)
            states[key] = through_json(state)
    for later in (1, 10, 100, 1_000, 100_000):
        for key, state in list(states.items()):
            detection.tick(key, state, start + later)
            states[key] = through_json(state)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_an_observation_carries_a_number_json_cannot_hold_by_its_name(value: float) -> None:
    """As JSON would turn it into null, every path (one process, or the keyed topic between
    workers) sees the same thing: the name, which no detector takes for a number."""
    obs = Observation.from_record(event_record("spend", usd=value))
    assert obs.payload["usd"] == str(value)
    assert through_keyed_topic(obs) == obs


# -- through the embedded journal ---------------------------------------------------------


def spends(*amounts: float, agent: str = "buyer") -> list[EventRecord]:
    return [
        event_record("spend", sequence=n, agent=agent, usd=usd, action=None)
        for n, usd in enumerate(amounts, 1)
    ]


def reopen(path: Path) -> Journal:
    return Journal(path, "pipeline", fsync=False)


def test_detector_state_round_trips_through_the_journal(tmp_path: Path) -> None:
    journal = reopen(tmp_path)
    detectors = KeyedDetectors(RULES, journal.map("state"))
    now = NOW.timestamp()
    found = detectors.observe_events(spends(1.0, math.nan, math.inf, -math.inf, -2.0, 0.5), now)
    found += detectors.tick(0, now + 25)  # closes the buckets: drift folds what it can add up
    assert [f.dedup_key for f in found] == ["spend-unreadable:buyer"]
    journal.commit({"state": detectors.write()})
    kept = orjson.loads(orjson.dumps(journal.maps["state"]))
    journal.close()

    again = reopen(tmp_path)
    assert again.maps["state"] == kept
    assert finite_only(again.maps["state"])
    series = again.maps["state"]["agent:buyer"]["spend"]["series"]["*"]
    assert series["baseline"] == pytest.approx(1.5 / 10 / 2)  # $1.50 in the first of two
    restored = KeyedDetectors(RULES, again.map("state"))
    cleared = restored.tick(0, now + 1_000)  # the restored state goes on: the alert clears
    assert [(f.dedup_key, f.resolved) for f in cleared] == [("spend-unreadable:buyer", True)]
    again.close()


def test_a_journal_an_earlier_version_wrote_with_nulls_is_restored_and_judged_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Earlier versions kept NaN or infinity in a spend bucket, a baseline or a heartbeat
    deadline; the journal's JSON saved ``null``, and every start then died on a tick."""
    caplog.set_level(logging.ERROR)
    journal = reopen(tmp_path)
    detectors = KeyedDetectors(RULES, journal.map("state"))
    now = NOW.timestamp()
    detectors.observe_events(spends(1.0, 2.0, 3.0), now)
    beat = event_record("heartbeat", sequence=4, agent="buyer", interval_s=10.0)
    detectors.observe_events([beat], now)
    detectors.tick(0, now + 15)
    detectors.write()
    state = journal.maps["state"]["agent:buyer"]
    series = state["spend"]["series"]["*"]
    series["buckets"] = {b: None for b in series["buckets"]}
    series["baseline"] = None
    state["silence"]["sessions"]["s"] = None
    journal.commit({"state": ["agent:buyer"]})
    journal.close()

    again = reopen(tmp_path)
    assert again.maps["state"]["agent:buyer"]["spend"]["series"]["*"]["baseline"] is None
    restored = KeyedDetectors(RULES, again.map("state"))
    found: list[Finding] = []
    for later in (20, 40, 60, 100, 300):
        found += restored.tick(0, now + later)
        found += restored.observe_events(spends(1.0, agent="other"), now + later)
    assert not caplog.records, "judged by the detectors, not skipped after an error"
    assert [f.dedup_key for f in found] == ["silence:buyer"]  # its deadline started over
    assert finite_only(again.maps["state"])
    again.close()


def test_a_detector_failing_on_one_key_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug, not a number: the key is skipped and logged once; the pipeline goes on."""
    detectors = KeyedDetectors(RULES, {})
    now = NOW.timestamp()
    for agent in ("bad", "good"):
        beat = event_record("heartbeat", agent=agent, interval_s=1.0)
        detectors.observe_events([beat], now)
    tick = detectors.detection.tick

    def failing(key: str, state: State, at: float) -> list[Finding]:
        if key == "agent:bad":
            raise RuntimeError("a detector bug")
        return tick(key, state, at)

    monkeypatch.setattr(detectors.detection, "tick", failing)
    found = detectors.tick(0, now + 10) + detectors.tick(0, now + 20)
    assert [f.dedup_key for f in found] == ["silence:good"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "detectors: failed on agent:bad; skipped (logged once until it works)"
    ]
