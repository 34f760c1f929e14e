"""Suppression of repeats per dedup key: pure decisions over a JSON-serialisable state."""

from __future__ import annotations

import json

import pytest

from handrail.processors.router.alert import AlertEvent, parse_alert
from handrail.processors.router.suppression import (
    CLOSED_KEPT_S,
    StateEntry,
    decide,
    expired,
    settle,
)
from tests.support.samples import event_record

ROUTED = ("pd", "slack")
KEY = "retry_storm:a:op-1"

Step = tuple[str, set[str], tuple[str, ...]]
"""(raise | resolve, channels on which delivery succeeds, expected target channels)."""


def alert(kind: str) -> AlertEvent:
    return parse_alert(event_record("alert_raised" if kind == "raise" else "alert_resolved"))


def run(steps: list[Step], events: list[AlertEvent] | None = None) -> StateEntry | None:
    """Each step's alert event is a new one, or that of ``events`` (read again)."""
    state: dict[str, StateEntry] = {}
    for number, (kind, succeeds, expected) in enumerate(steps, 1):
        event = events[number - 1] if events else alert(kind)
        entry = state.get(KEY)
        decision = decide(entry, event, ROUTED)
        assert decision.channels == expected, f"step {number}: {kind} ({decision.reason})"
        if decision.notice is None:
            continue
        new = settle(entry, decision.notice, [c for c in decision.channels if c in succeeds], 0.0)
        if new is not None:
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


def test_resolved_keys_are_closed_then_forgotten() -> None:
    closed = run([("raise", ALL, ROUTED), ("resolve", ALL, ROUTED)])
    assert closed is not None
    assert closed["open"] == []
    assert not expired(closed, CLOSED_KEPT_S)
    assert expired(closed, CLOSED_KEPT_S + 1)


def test_a_raise_and_its_resolve_read_again_page_nobody() -> None:
    """A worker that takes over reads the alerts topic again from its last commit: the
    raise and the resolve it had delivered must not page a second time (they did, once
    the key was resolved and forgotten)."""
    events = [alert("raise"), alert("resolve")]
    run([("raise", ALL, ROUTED), ("resolve", ALL, ROUTED)], events)
    replay = [("raise", ALL, ROUTED), ("resolve", ALL, ROUTED), ("raise", ALL, ()),
              ("resolve", ALL, ())]  # fmt: skip
    run(replay, [*events, *events])


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
    settle(entry, decision.notice, ["pd"], 0.0)
    assert json.dumps(entry) == frozen
