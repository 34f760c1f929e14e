"""The detectors of the processors, run over the events of every source in one process.

Thin wiring, like ``processors/app.py`` without Faust: each event is routed to its state
keys (``detection.routes``) and judged there by ``Detection``; ``tick`` lets time reveal
what is absent, visiting the keys ``TickSchedule`` names. There is one reader, so the
clock for absence is simply whether the pipeline has read everything (``ReadMark``). ``changed``
collects the keys whose state changed since the journal last took them.

A detector that fails on one key (a bug; hostile numbers are refused by the detectors
themselves) must not stop the pipeline, nor every start after it, as the Faust worker
goes on past such a message: that key's event or tick is skipped and logged, once per key
until it works again, and the other keys are judged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from handrail.config.thresholds import DetectorRules
from handrail.control.log import Tail
from handrail.governance.authority import Authority
from handrail.processors.detection import CONTROL_JUDGED, Detection, routes
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.processors.schedule import TickSchedule
from handrail.schemas import DecodeError, EventRecord, decode, event_type

log = logging.getLogger(__name__)

FULL_PASS_S = 300.0
"""Every key is visited by a tick at least this often (as in the Faust app)."""
_ONE = 0  # the schedule's partition: one process owns every key


class Detectors:
    """Every detector over ``state`` (key -> state), which the caller keeps durable."""

    def __init__(
        self, rules: DetectorRules, state: dict[str, Any], authority: Authority | None = None
    ) -> None:
        """``authority``: judge control entries' signatures by it (None: they are not)."""
        self.detection = Detection(rules, authority)
        self.schedule = TickSchedule(full_pass_s=FULL_PASS_S)  # first tick: every key
        self.state = state
        self.changed: set[str] = set()
        self._failing: set[str] = set()

    def observe(self, records: Iterable[EventRecord], now: float, only: str = "") -> list[Finding]:
        """Judge events under every key they route to (``only``: the keys with that
        prefix)."""
        findings: list[Finding] = []
        for record in records:
            try:
                obs = Observation.from_record(record)
            except Exception:  # the ledger still gets the event; the detectors cannot
                log.exception("detectors: cannot observe event %s", record.get("event_id"))
                continue
            for key in routes(obs):
                if not key.startswith(only):
                    continue
                current = self.state.setdefault(key, {})
                findings += self._judge(key, self.detection.observe, current, obs, now)
                self.changed.add(key)
                self.schedule.update(_ONE, key, self.detection.pending(key, current))
        return findings

    def observe_control(self, values: Iterable[bytes], now: float) -> list[Finding]:
        """Control entries read from the control log, judged for forgery only (their
        workflow's key): one written straight into the log, never recorded by an agent,
        is alerted too. One also read from a spool is judged once (by its content)."""
        records = []
        for value in values:
            try:
                record = decode(value)[1]
            except DecodeError:
                continue  # readers log it; there is nothing to judge
            if event_type(record) in CONTROL_JUDGED:
                records.append(record)
        return self.observe(records, now, only="workflow:")

    def tick(self, now: float) -> list[Finding]:
        findings: list[Finding] = []
        for key in self.schedule.keys(_ONE, now, lambda: list(self.state)):
            current = self.state.get(key)
            if current is None:
                continue
            before = orjson.dumps(current, option=orjson.OPT_NON_STR_KEYS)
            findings += self._judge(key, self.detection.tick, current, now)
            if not current:
                del self.state[key]
                self.changed.add(key)
            elif orjson.dumps(current, option=orjson.OPT_NON_STR_KEYS) != before:
                self.changed.add(key)
            pending = bool(current) and self.detection.pending(key, current)
            self.schedule.update(_ONE, key, pending)
        return findings

    def _judge(self, key: str, judge: Callable[..., list[Finding]], *args: Any) -> list[Finding]:
        try:
            found = judge(key, *args)
        except Exception:
            if key not in self._failing:
                log.exception("detectors: failed on %s; skipped (logged once until it works)", key)
            self._failing.add(key)
            return []
        self._failing.discard(key)
        return found

    def take_changed(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed


class ReadMark:
    """The clock for absence: the wall clock once everything written has been read. While
    a backlog is read (after a restart, or under load) it stands still: an event not read
    yet is never taken for one that did not come. Never goes back; unknown until the
    first time everything was read."""

    def __init__(self) -> None:
        self.value: float | None = None

    def update(self, caught_up: bool, now: float) -> float | None:
        if caught_up and (self.value is None or now > self.value):
            self.value = now
        return self.value


class ControlEntries:
    """The control log's new entries, for the forgery check. A log that cannot be read (a
    directory in its place, no permission) is logged once and tried again at the next
    read: it must not stop the pipeline."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._tail: Tail | None = None
        self._failing = False

    def read(self) -> list[bytes]:
        try:
            if self._tail is None:
                self._tail = Tail(self._path)
            values = self._tail.read()
        except OSError as exc:
            if not self._failing:
                log.warning("cannot read the control log %s: %s", self._path, exc.strerror)
            self._failing = True
            return []
        self._failing = False
        return values

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()
