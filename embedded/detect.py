"""What the embedded pipeline adds to the processors' detectors (``processors.keyed``,
which it hosts as the Faust worker does, over one partition that holds every key): the
clock for absence, which with one reader is simply whether everything has been read
(``ReadMark``), and the control log's entries judged for forgery (``ControlEntries``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from handrail.control.log import Tail
from handrail.processors.detection import CONTROL_JUDGED
from handrail.schemas import DecodeError, EventRecord, decode, event_type

log = logging.getLogger(__name__)


def control_records(values: Iterable[bytes]) -> list[EventRecord]:
    """The control log's entries that are judged for forgery (their workflow's key only):
    one written straight into the log, never recorded by an agent, is alerted too; one
    also read from a spool is judged once (by its content)."""
    records = []
    for value in values:
        try:
            record = decode(value)[1]
        except DecodeError:
            continue  # readers log it; there is nothing to judge
        if event_type(record) in CONTROL_JUDGED:
            records.append(record)
    return records


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
