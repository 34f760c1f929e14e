"""Suppression of repeats per dedup key: pure decisions over a JSON-serialisable state."""

from __future__ import annotations

import json

import pytest

from handrail.processors.router.alert import parse_alert
from handrail.processors.router.suppression import StateEntry, decide, settle
from tests.support.samples import event_record

ROUTED = ("pd", "slack")
KEY = "retry_storm:a:op-1"

Step = tuple[str, set[str], tuple[str, ...]]
"""(raise | resolve, channels on which delivery succeeds, expected target channels)."""


def run(steps: list[Step]) -> StateEntry | None:
    state: dict[str, StateEntry] = {}
    for number, (kind, succeeds, expected) in enumerate(steps, 1):
        event = parse_alert(event_record("alert_raised" if kind == "raise" else "alert_resolved"))
        entry = state.get(KEY)
        decision = decide(entry, event, ROUTED)
        assert decision.channels == expected, f"step {number}: {kind} ({decision.reason})"
        if decision.notice is None:
            continue
        new = settle(entry, decision.notice, [c for c in decision.channels if c in succeeds])
        if new is None:
            state.pop(KEY, None)
        else:
            json.dumps(new)  # the state must survive a JSON changelog
            state[KEY] = new
    return state.get(KEY)


ALL = {"pd", "slack"}
CASES: dict[str, list[Step]] = {
    "raise, repeat suppressed, resolve, raise again": [
        ("raise", ALL, ROUTED),
        ("raise", ALL, ()),
        ("resolve", ALL, ROUTED),
        ("raise", ALL, ROUTED),
    ],
    "resolve of a key never raised": [("resolve", ALL, ())],
    "resolve twice": [("raise", ALL, ROUTED), ("resolve", ALL, ROUTED), ("resolve", ALL, ())],
    "failed raise leaves the key closed": [
        ("raise", set(), ROUTED),
        ("resolve", ALL, ()),
        ("raise", ALL, ROUTED),
    ],
    "partly delivered raise is retried on the rest only": [
        ("raise", {"pd"}, ROUTED),
        ("raise", ALL, ("slack",)),
        ("raise", ALL, ()),
        ("resolve", ALL, ROUTED),
    ],
    "resolve goes only where the raise landed": [
        ("raise", {"slack"}, ROUTED),
        ("resolve", ALL, ("slack",)),
    ],
    "failed resolve keeps the key open on that channel": [
        ("raise", ALL, ROUTED),
        ("resolve", {"pd"}, ROUTED),
        ("raise", ALL, ("pd",)),
        ("resolve", ALL, ("slack", "pd")),
        ("resolve", ALL, ()),
    ],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_sequences(steps: list[Step]) -> None:
    run(steps)


def test_resolved_keys_are_forgotten() -> None:
    assert run([("raise", ALL, ROUTED), ("resolve", ALL, ROUTED)]) is None


def test_the_state_keeps_the_raise_for_the_resolve() -> None:
    entry = run([("raise", {"pd"}, ROUTED)])
    assert entry is not None
    assert entry["open"] == ["pd"]
    assert entry["raised"]["severity"] == "critical"
    resolve = parse_alert(event_record("alert_resolved"))
    decision = decide(entry, resolve, ())
    assert decision.notice is not None
    assert decision.notice.raised.detector == "retry_storm"
    assert decision.notice.summary == "no retries for 10m"


def test_no_routed_channel() -> None:
    decision = decide(None, parse_alert(event_record("alert_raised")), ())
    assert decision.notice is None
    assert decision.reason == "no channel is routed"


def test_settle_does_not_mutate_the_entry() -> None:
    entry = run([("raise", ALL, ROUTED)])
    assert entry is not None
    frozen = json.dumps(entry)
    decision = decide(entry, parse_alert(event_record("alert_resolved")), ())
    assert decision.notice is not None
    settle(entry, decision.notice, ["pd"])
    assert json.dumps(entry) == frozen
