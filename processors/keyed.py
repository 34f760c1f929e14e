"""The one host of the detectors (pure, no Faust, no I/O): state kept per key, the keys a
tick visits, the state each judgement changed. The Faust worker (``app``) and the embedded
pipeline (``handrail.embedded``) both judge through it; each keeps ``store`` durable its
own way (a changelogged table, a journal).

Judging never writes ``store``: the states it changes wait in ``changed`` until the host's
owner calls ``write``, so the findings they record can be sent and acknowledged first (a
crash then repeats an alert, harmlessly, and never loses one).

A detector that fails on one key (a bug; hostile numbers are refused by the detectors
themselves) must not stop its host: a tick skips that key and logs it, once until it
works again; ``observe_events`` does the same, while ``observe`` raises, so that its
caller keeps what could not be judged (the worker sends it to the dead letters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from functools import partial

import orjson

from handrail.config.thresholds import DetectorRules
from handrail.governance.authority import Authority
from handrail.processors.detection import Detection, partition_of, routes
from handrail.processors.detectors import State
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.processors.schedule import TickSchedule
from handrail.schemas import EventRecord

log = logging.getLogger(__name__)

FULL_PASS_S = 300.0
"""Every key is visited by a tick at least this often."""


class KeyedDetectors:
    def __init__(
        self,
        rules: DetectorRules,
        store: MutableMapping[str, State],
        authority: Authority | None = None,
        *,
        partitions: int = 1,
    ) -> None:
        """``store``: key -> state, as last written; ``authority``: judge control entries'
        signatures by it (None: they are not); ``partitions``: how keys are spread over
        ticks (the keyed topic's partitions; 1 where one process owns every key)."""
        self.detection = Detection(rules, authority)
        self.schedule = TickSchedule(full_pass_s=FULL_PASS_S)
        self.store = store
        self.partitions = partitions
        self.changed: dict[str, State] = {}
        """Judged since the last ``write``: key -> its state (empty: to delete)."""
        self._partition: dict[str, int] = {}
        self._failing: set[str] = set()

    def state(self, key: str) -> State:
        """``key``'s current state: as judged since the last write, else as stored."""
        current = self.changed.get(key)
        if current is None:
            current = self.store.get(key) or {}
            self.changed[key] = current  # judged in place, written by ``write``
        return current

    def observe(self, key: str, observations: Iterable[Observation], now: float) -> list[Finding]:
        """Judge events under one key; raises what a detector raised."""
        current = self.state(key)
        findings: list[Finding] = []
        for obs in observations:
            findings += self.detection.observe(key, current, obs, now)
        self.schedule.update(self.partition(key), key, self.detection.pending(key, current))
        return findings

    def observe_events(
        self, records: Iterable[EventRecord], now: float, only: str = ""
    ) -> list[Finding]:
        """Judge events under every key they route to (``only``: the keys with that
        prefix); an event or a key that fails is logged and skipped."""
        findings: list[Finding] = []
        for record in records:
            try:
                obs = Observation.from_record(record)
            except Exception:  # the ledger still gets the event; the detectors cannot
                log.exception("detectors: cannot observe event %s", record.get("event_id"))
                continue
            for key in routes(obs):
                if key.startswith(only):
                    findings += self._guarded(key, partial(self.observe, key, (obs,), now))
        return findings

    def tick(self, partition: int, now: float) -> list[Finding]:
        """What absence or time reveals, on the keys of ``partition`` the schedule names."""

        def every_key() -> list[str]:
            keys = {*self.store, *self.changed}
            return [k for k in keys if self.partition(k) == partition]

        findings: list[Finding] = []
        for key in self.schedule.keys(partition, now, every_key):
            if key in self.changed or key in self.store:
                findings += self._guarded(key, partial(self._tick, key, partition, now))
        return findings

    def _tick(self, key: str, partition: int, now: float) -> list[Finding]:
        unwritten = key in self.changed
        current = self.state(key)
        before = None if unwritten else _dump(current)
        findings = self.detection.tick(key, current, now)
        if not unwritten and current and _dump(current) == before:
            del self.changed[key]  # unchanged: nothing to write
        pending = bool(current) and self.detection.pending(key, current)
        self.schedule.update(partition, key, pending)
        return findings

    def _guarded(self, key: str, judge: Callable[[], list[Finding]]) -> list[Finding]:
        try:
            found = judge()
        except Exception:
            if key not in self._failing:
                log.exception("detectors: failed on %s; skipped (logged once until it works)", key)
            self._failing.add(key)
            return []
        self._failing.discard(key)
        return found

    def write(self) -> set[str]:
        """Write the states judged since the last write into ``store`` (an empty one is
        deleted); the keys written."""
        changed, self.changed = self.changed, {}
        for key, current in changed.items():
            if current:
                self.store[key] = current
            elif key in self.store:
                del self.store[key]
                self._partition.pop(key, None)
        return set(changed)

    def partition(self, key: str) -> int:
        found = self._partition.get(key)
        if found is None:
            found = self._partition[key] = partition_of(key, self.partitions)
        return found

    def forget(self) -> None:
        """The partitions moved (a rebalance): what was judged and not written is judged
        again by their next owner; ticks start over with a full pass."""
        self.changed.clear()
        self._partition.clear()
        self.schedule.forget()


def _dump(state: State) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS)
