"""The detector contract and small helpers for time windows."""

from __future__ import annotations

from bisect import insort
from typing import Any, Protocol

from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

State = dict[str, Any]
Step = tuple[State, list[Finding]]


class Detector(Protocol):
    name: str

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        """Take one (deduplicated) event into account."""
        ...

    def tick(self, state: State, now: float) -> Step:
        """Find what is detected by absence, or what cleared with time."""
        ...


def window_add(entries: list[list[Any]], time: float, event_id: str, horizon: float) -> None:
    """Add ``[time, event_id]`` in time order (events may come out of order); drop entries
    older than ``horizon`` seconds before the newest."""
    insort(entries, [time, event_id])
    window_trim(entries, entries[-1][0] - horizon)


def window_trim(entries: list[list[Any]], oldest: float) -> None:
    drop = 0
    while drop < len(entries) and entries[drop][0] < oldest:
        drop += 1
    del entries[:drop]


EVIDENCE = 20
"""Event ids a finding cites at most (the latest)."""


def ids(entries: list[list[Any]], limit: int = EVIDENCE) -> tuple[str, ...]:
    """The latest event ids of a window, as evidence."""
    return tuple(e[1] for e in entries[-limit:])
