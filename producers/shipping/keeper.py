"""The thread shipper's spool side: events taken for the spool wait in memory (``held``)
until written; embedded, control events are also queued for the control log. When the
spool cannot be written, at most ``held_max`` events wait (newer ones are dropped and
counted lost) and each next try waits longer. An event that cannot be read or encoded is
set aside in the spool's rejected file with the reason."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from handrail.backoff import Backoff
from handrail.control.log import ControlLog
from handrail.control.state import CONTROL_KINDS
from handrail.producers.shipping.stats import Tally
from handrail.producers.spool import Segment, Spool, SpoolWriteError
from handrail.schemas import AVRO_NAMES, EventRecord, encode

log = logging.getLogger(__name__)

CONTROL_NAMES = frozenset(AVRO_NAMES[kind] for kind in CONTROL_KINDS)
"""The Avro names of control events (copied to the control topic, or the control log)."""


class SpoolKeeper:
    """Writes what the shipper gives the spool (and, embedded, the control log)."""

    def __init__(
        self,
        *,
        spool: Spool,
        control_log: ControlLog | None,
        unpack: Callable[[bytes], EventRecord],
        tally: Tally,
        held_max: int,
        retry_backoff_max_s: float,
    ) -> None:
        self.spool = spool
        self._control_log = control_log
        self._unpack = unpack
        self._tally = tally
        self.held: deque[EventRecord] = deque()
        """Events taken from the buffer for the spool and not yet written (degraded or
        embedded), oldest first; at most ``held_max``."""
        self.held_max = held_max
        self.control: deque[bytes] = deque()
        """Control events (embedded, encoded) not yet in the control log."""
        self.failing = False
        """The last spool or control log write failed: the next waits ``write_at``."""
        self.write_at = 0.0
        self._write_backoff = Backoff(0.1, retry_backoff_max_s)

    def unpack(self, packed: bytes) -> EventRecord | None:
        """The full record of a buffered event; None (set aside) when it cannot be built."""
        try:
            return self._unpack(packed)
        except Exception as exc:
            self.reject({"packed": packed.hex()}, error=exc, why="cannot be read")
            self._tally.add_durable(1)
            return None

    def encode(self, record: EventRecord, origin: Segment | None, index: int) -> bytes | None:
        """The event's message; None when it cannot be encoded (it is set aside)."""
        try:
            return encode(record)
        except Exception as exc:  # hostile values: surrogates, ints past Avro's long, ...
            self.reject(record, origin, index, exc, "cannot be encoded")
            return None

    def hold(self, batch: list[bytes]) -> None:
        """Events taken for the spool wait in ``held`` until written; while the spool
        cannot be written, at most ``held_max`` of them (newer ones are dropped and
        counted). Embedded, control events are queued for the control log too."""
        tally = self._tally
        if self.failing:
            batch = batch[: self._drop_past(self.held_max - len(self.held), len(batch))]
        for packed in batch:
            record = self.unpack(packed)
            if record is None:
                continue
            if self._control_log is not None and record["payload"][0] in CONTROL_NAMES:
                message = self.encode(record, None, 0)
                if message is None:
                    tally.add_durable(1)  # set aside
                    continue
                if len(self.control) < self.held_max:
                    self.control.append(message)
                else:
                    tally.control_lost += 1
            self.held.append(record)

    def _drop_past(self, room: int, n: int) -> int:
        """Of ``n`` events waiting for a spool that cannot be written, how many memory keeps
        (``room``); the rest are counted lost."""
        keep = max(0, min(room, n))
        if keep < n:
            self._tally.lost += n - keep
            self._tally.once("lost", "handrail: the spool cannot be written and %d events "
                             "wait in memory: dropping newer events (counted in "
                             "stats().lost)", self.held_max)  # fmt: skip
        return keep

    def write(self) -> bool:
        """Write what waits: control events to the control log, then events to the spool.
        On failure what was not written waits, and the next try waits longer."""
        tally = self._tally
        error: Exception | None = None
        if self.control and self._control_log is not None:
            try:
                self._control_log.append(list(self.control))
                self.control.clear()
            except OSError as exc:
                error = exc
        if self.held:
            records = list(self.held)
            try:
                rejected, done = self.spool.append(records), len(records)
            except SpoolWriteError as exc:
                error, done, rejected = exc, exc.done, 0
            for _ in range(done):
                self.held.popleft()
            tally.rejected += rejected
            tally.spooled += done - rejected
            tally.add_durable(done)
        if error is None:
            if self.failing:
                log.warning("handrail: the spool is written again (%s)", self.spool.directory)
            self.failing = False
            self._write_backoff.reset()
            return True
        if not self.failing:
            log.warning("handrail: %s; up to %d events wait in memory and are written when "
                        "it can be", error, self.held_max)  # fmt: skip
        self.failing = True
        tally.write_failures += 1
        for _ in range(self._drop_past(self.held_max, len(self.held)), len(self.held)):
            self.held.pop()
        tally.notify()
        self.write_at = time.monotonic() + self._write_backoff.next()
        return False

    def seal(self, records: list[EventRecord], unsent: list[EventRecord]) -> Segment | None:
        """Seal ``records`` (in flight, then ``unsent``) into a spool segment. When the spool
        cannot be written: None, and the unsent wait in memory ahead of newer events."""
        try:
            segment = self.spool.seal(records)
        except SpoolWriteError as exc:
            self.held.extendleft(reversed(unsent))
            self.failing = True
            self._tally.write_failures += 1
            self._tally.once("seal", "handrail: %s; events wait in memory", exc)
            return None
        self._tally.spooled += len(segment.records)
        self._tally.rejected += len(records) - len(segment.records)
        return segment

    def reject(
        self,
        record: Any,
        origin: Segment | None = None,
        index: int = 0,
        error: BaseException | None = None,
        why: str = "Kafka refused it for good",
    ) -> None:
        """Set an event aside in the spool's rejected file (counted rejected, or lost when
        that file cannot be written) and confirm it in its segment."""
        event_id = record.get("event_id", "?") if isinstance(record, dict) else "?"
        log.error("handrail: event %.60s set aside: %s: %.300r", event_id, why, error)
        try:
            self.spool.reject(record, f"{why}: {error!r}"[:500])
            self._tally.rejected += 1
        except OSError as exc:
            self._tally.lost += 1
            self._tally.once("reject", "handrail: the rejected file cannot be written: %s", exc)
        if origin is not None:
            self.spool.confirm(origin, index)

    def close(self, loose: list[EventRecord]) -> None:
        """At the end: seal ``loose`` (events in flight, unconfirmed), write what waits, count
        what cannot be kept as lost, and close the spool."""
        tally = self._tally
        if loose:
            try:
                self.spool.seal(loose)
            except SpoolWriteError as exc:
                tally.lost += len(loose)
                log.error("handrail: %s; %d events in flight are lost", exc, len(loose))
        if self.held or self.control:
            self.write()
        if self.held or self.control:
            log.error("handrail: the spool cannot be written; %d events (%d control log "
                      "entries) are lost", len(self.held), len(self.control))  # fmt: skip
            tally.lost += len(self.held)
            tally.control_lost += len(self.control)
            self.held.clear()
            self.control.clear()
        self.spool.close()
