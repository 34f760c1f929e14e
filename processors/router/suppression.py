"""Suppression of repeats per dedup key: pure decisions over a JSON-serialisable state.

A key is *open* on a channel once a raise was delivered there and until a resolve is:

* a raise goes to its routed channels where the key is not open yet — a repeat of an
  open alert is delivered nowhere, one that reached only some channels is retried on the
  others;
* a resolve goes to the channels where the key is open — a resolve of a key that is not
  open is delivered nowhere; once resolved everywhere the key is closed, so a new raise
  of it (a new alert event) is delivered again;
* an alert event handled before is delivered nowhere, open or closed: a raise and its
  resolve read again (a worker that took over from one that died, a rebalance) never
  page anyone a second time. A closed key is remembered for ``CLOSED_KEPT_S``
  (``forget_closed``), far longer than any replay.

The state of a key is a plain dict (``{"open": [channel, ...], "raised": {...},
"handled": [event id, ...]}``; closed: ``open`` empty and ``closed_at`` set), kept in any
``MutableMapping``: a dict when embedded, a changelogged Faust table in a worker. Entries
are never mutated in place (a table only persists assignments): ``settle`` returns a new
entry.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from handrail.processors.router.alert import AlertEvent, Notice
from handrail.schemas.models import AlertRaised

StateEntry = dict[str, Any]
"""The JSON-serialisable state of one dedup key."""
CLOSED_KEPT_S = 86_400.0
"""How long a closed key's handled events are remembered."""
_HANDLED = 8
"""The most recent alert events of a key remembered as handled."""


@dataclass(frozen=True)
class Decision:
    """Where an alert event goes now, and why (for the log)."""

    notice: Notice | None
    """What to deliver; ``None`` when the event is suppressed."""
    channels: tuple[str, ...]
    reason: str


def open_channels(entry: StateEntry | None) -> list[str]:
    """The channels on which the key is open."""
    return list(entry["open"]) if entry else []


def decide(entry: StateEntry | None, event: AlertEvent, routed: Sequence[str]) -> Decision:
    """Deliver ``event`` or suppress it, given its key's state and (for raises) its routes."""
    is_open = open_channels(entry)
    payload = event.payload
    if entry is not None and event.event_id in entry.get("handled", ()):
        return Decision(None, (), "handled before (read again)")
    if isinstance(payload, AlertRaised):
        targets = tuple(name for name in routed if name not in is_open)
        if not routed:
            return Decision(None, (), "no channel is routed")
        if not targets:
            return Decision(None, (), "already open on every routed channel")
        return Decision(Notice(event, payload), targets, "open" if is_open else "new")
    if entry is None or not is_open:
        return Decision(None, (), "not open")
    raised = AlertRaised.model_validate(entry["raised"])
    return Decision(Notice(event, raised), tuple(is_open), "resolves an open alert")


def settle(
    entry: StateEntry | None, notice: Notice, delivered: Collection[str], now: float
) -> StateEntry | None:
    """The key's new state after ``notice`` reached the ``delivered`` channels."""
    is_open = open_channels(entry)
    handled = [*(entry or {}).get("handled", ()), notice.event.event_id][-_HANDLED:]
    if notice.action == "trigger":
        if not delivered:
            return entry
        now_open = [*is_open, *(name for name in delivered if name not in is_open)]
        raised = notice.raised.model_dump(mode="json", exclude={"type"})
        event_id = notice.event.event_id
        return {"open": now_open, "raised": raised, "event_id": event_id, "handled": handled}
    remaining = [name for name in is_open if name not in delivered]
    if not remaining:
        return {"open": [], "handled": handled, "closed_at": now}
    return {**(entry or {}), "open": remaining, "handled": handled}


def expired(entry: StateEntry, now: float) -> bool:
    """Is this a closed key kept long enough?"""
    return not entry.get("open") and now - entry.get("closed_at", now) > CLOSED_KEPT_S
