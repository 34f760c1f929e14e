"""The shipper: one background thread that moves recorded events to Kafka or the spool.

Agent threads only append to an in-memory buffer (``put``: an ``EventBuffer`` of packed
events, ``session.py``; bounded, and no system call while events flow); the shipper
thread alone talks to Kafka and to the spool, so order is simple to keep.

* **online** (the spool is empty): buffered events are encoded and handed to the Kafka
  producer. An event is *durable* once Kafka acknowledged it.
* When an event stays unacknowledged past ``send_timeout_s``, fails, or the buffer stays
  full for ``max_block_ms`` (the agent outpaces Kafka), the shipper goes **degraded**:
  events still in flight are sealed into a spool segment (and stay in flight: if Kafka
  acknowledges them after all, the segment notes it), and new events are appended to the
  spool (durable once flushed). While degraded the shipper replays the spool oldest
  first, window by window, and goes back online when the spool is empty.
* **embedded** (no Kafka configured): every event goes to the spool, and control events
  (approval requests and decisions, handoff answers, halts) also to the control log
  (``control_log.py``), from this thread: the agent's thread never waits on a disk.

The shipper cannot die. An event it cannot encode (a lone surrogate, an int past Avro's
``long``) goes to the spool's rejected file with the reason and the events after it ship.
When the spool cannot be written (disk full, a read-only or removed directory), events
wait in memory, up to ``buffer_max_events``, and are written when it can be; past that
bound they are dropped and counted (``stats().lost``): the agent goes on either way. Any
other error restarts the loop (logged once per kind, counted in ``stats().restarts``).
``flush`` and ``close`` return by their timeout; without one, they give up once nothing
progressed for ``2 * send_timeout_s``.

The Kafka producer is idempotent with ``acks=all``; it is never abandoned while it has
events in flight, so a broker outage creates no duplicates. Only a process crash in the
middle of a replay window can resend events, and consumers drop those by event id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)

from handrail.backoff import Backoff, exponential
from handrail.files import FileModes
from handrail.producers.control import CONTROL_KINDS
from handrail.producers.control_log import ControlLog
from handrail.producers.control_topics import destination
from handrail.producers.event_buffer import EventBuffer
from handrail.producers.session import Session
from handrail.producers.spool import Segment, Spool, SpoolWriteError
from handrail.producers.transport import kafka_producer_factory
from handrail.schemas import AVRO_NAMES, EventRecord, decode, encode
from handrail.settings import Settings

log = logging.getLogger(__name__)

PERMANENT_ERRORS = (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)
"""Kafka refusals that no retry can fix: the event is set aside in the spool's rejected file."""

ProducerFactory = Callable[[], Any]
"""Builds a connected kafka-python ``KafkaProducer`` (raises when Kafka is unreachable)."""

_CONTROL_NAMES = frozenset(AVRO_NAMES[kind] for kind in CONTROL_KINDS)


class _Both:
    """An event sent to the events topic and copied to the control topic: done when both
    sends are, succeeded when both did."""

    __slots__ = ("_futures",)

    def __init__(self, *futures: Any) -> None:
        self._futures = futures

    @property
    def is_done(self) -> bool:
        return all(f.is_done for f in self._futures)

    def succeeded(self) -> bool:
        return all(f.succeeded() for f in self._futures)

    @property
    def exception(self) -> BaseException | None:
        return next((f.exception for f in self._futures if f.failed()), None)


def _look(future: Any) -> str:
    """A send's state at one moment: in flight, acked or failed."""
    if not future.is_done:
        return "in flight"
    return "acked" if future.succeeded() else "failed"


@dataclass(slots=True)
class Flight:
    """One event handed to Kafka and not yet resolved."""

    message: bytes
    """The event as sent: its record is decoded again only if it must go to the spool (an
    event in flight holds no Python containers, so the garbage collector, which the agent's
    thread may run, never visits it)."""
    future: Any
    sent_at: float
    origin: Segment | None
    index: int
    """Position in ``origin`` (meaningless when ``origin`` is None)."""

    @property
    def record(self) -> EventRecord:
        return decode(self.message, logical=False, resolve=False)[1]


@dataclass(frozen=True, slots=True)
class ShipperStats:
    """Counters since the recorder started."""

    accepted: int
    """Events recorded by the agent."""
    delivered: int
    """Acknowledged by Kafka (including replays)."""
    spooled: int
    """Written to the spool."""
    durable: int
    """Accepted events that are delivered or spooled."""
    overflowed: int
    """Record calls that waited ``max_block_ms`` and went on over the buffer limit."""
    rejected: int
    """Events Kafka refused for good (e.g. too large) or that could not be encoded; kept in
    the spool's rejected file (they count as durable)."""
    state: str
    held: int = 0
    """Events waiting in memory because the spool could not be written at the last try."""
    lost: int = 0
    """Events that could not be kept: dropped past the memory bound while the spool could
    not be written (or the shipper was stuck), or the spool's rejected file could not take
    them."""
    restarts: int = 0
    """Times the shipper's loop met an unexpected error and started again."""
    control_lost: int = 0
    """Control events (embedded) whose copy could not be kept in the control log."""
    write_failures: int = 0
    """Attempts to write the spool or the control log that failed."""


def await_kept(
    read: Callable[[], ShipperStats],
    target: int,
    timeout: float | None,
    changed: threading.Condition,
    *,
    stall_s: float,
    poke: Callable[[], None] = lambda: None,
) -> bool:
    """Wait until the first ``target`` accepted events are durable or counted lost; True
    when none was ever lost. Returns False sooner when what is missing waits in memory for
    a spool that cannot be written (a write tried after the wait began failed), after
    ``timeout``, or (no timeout) once nothing progressed for ``stall_s``. ``poke`` asks
    the shipper to look (and to try a failed write again) now. The one flush of both
    shippers."""
    now = time.monotonic()
    deadline = None if timeout is None else now + timeout
    seen, since = None, now
    failures = read().write_failures
    poke()
    with changed:
        while True:
            stats = read()
            kept = stats.durable + stats.lost
            if kept >= target:
                return stats.lost == 0
            if stats.held and kept + stats.held >= target and stats.write_failures > failures:
                return False  # the rest waits for the disk
            now = time.monotonic()
            progress = (stats.durable, stats.lost, stats.held)
            if progress != seen:
                seen, since = progress, now
            left = since + stall_s - now if deadline is None else deadline - now
            if left <= 0:
                return False
            poke()
            changed.wait(min(left, 0.05))


class Shipper:
    """Owns the buffer, the Kafka producer and the spool. See the module docstring."""

    @classmethod
    def from_settings(cls, settings: Settings, session: Session) -> Shipper:
        """The shipper of one recorder session: Kafka when configured, else the spool only."""
        kafka, p, s = settings.kafka, settings.producer, settings.spool
        factory = kafka_producer_factory(kafka, p) if kafka.bootstrap_servers else None
        modes = FileModes.of(settings.files)
        return cls(
            session=session,
            topic=kafka.events_topic,
            control_topic=settings.processors.control_topic if factory else None,
            spool=Spool(
                s.dir,
                session.id,
                fsync=s.fsync,
                segment_max_events=s.segment_max_events,
                modes=modes,
            ),
            control_log=None if factory else ControlLog.of(s, modes),
            producer_factory=factory,
            buffer_max_events=p.buffer_max_events,
            max_block_ms=p.max_block_ms,
            batch_max_events=p.batch_max_events,
            send_timeout_s=p.send_timeout_s,
            retry_backoff_max_s=p.retry_backoff_max_s,
        )

    def __init__(
        self,
        *,
        session: Session,
        topic: str,
        control_topic: str | None = None,
        spool: Spool,
        control_log: ControlLog | None = None,
        producer_factory: ProducerFactory | None,
        buffer_max_events: int,
        max_block_ms: float,
        batch_max_events: int,
        send_timeout_s: float,
        retry_backoff_max_s: float,
    ) -> None:
        self._record = session.unpack
        self._topic = topic
        self._control_topic = control_topic
        self._spool = spool
        self._control_log = control_log
        self._factory = producer_factory
        self._batch = batch_max_events
        self._send_timeout = send_timeout_s
        self._buffer: EventBuffer[bytes] = EventBuffer(buffer_max_events, max_block_ms / 1000)
        self._held: deque[EventRecord] = deque()
        """Events taken from the buffer for the spool and not yet written (degraded or
        embedded), oldest first; at most ``buffer_max_events``."""
        self._held_max = buffer_max_events
        self._control: deque[bytes] = deque()
        """Control events (embedded, encoded) not yet in the control log."""
        self._failing = False
        """The last spool or control log write failed: the next waits ``_write_at``."""
        self._write_at = 0.0
        self._write_backoff = Backoff(0.1, retry_backoff_max_s)
        self._stall = 2 * send_timeout_s
        self.lock = threading.Lock()
        """Held by the recorder while it numbers and buffers an event (keeps order)."""
        self._changed = threading.Condition(threading.Lock())
        self._inflight: deque[Flight] = deque()
        self._producer: Any = None
        self._degraded = producer_factory is None or not spool.is_empty()
        self._next_attempt = 0.0
        self._backoff = Backoff(0.1, retry_backoff_max_s)
        self._stopping = False
        self.put = self._buffer.put
        """Buffer one packed event (``session.py``). The caller holds ``self.lock``. Never
        blocks past ``max_block_ms``."""
        self._delivered = 0
        self._spooled = 0
        self._durable = 0
        self._overflow_seen = 0
        self._rejected = 0
        self._lost = 0
        self._control_lost = 0
        self._restarts = 0
        self._write_failures = 0
        self._logged: set[str] = set()
        """Kinds of trouble already logged (each is logged once, then only counted)."""
        self._thread = threading.Thread(target=self._run, name="handrail-shipper", daemon=True)
        self._thread.start()

    # -- agent side ---------------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        """Events buffered by ``put`` so far."""
        return self._buffer.added

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event accepted so far is delivered or spooled (``await_kept``):
        True when it is and none was ever lost."""
        if not self._thread.is_alive():
            return False
        return await_kept(
            self.stats, self.accepted, timeout, self._changed,
            stall_s=self._stall, poke=self._poke,
        )  # fmt: skip

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what it can within ``timeout`` (spool included), then stop.

        Returns True when everything reached Kafka (or, embedded, the spool); what is
        left stays in the spool and is replayed by the next recorder on this spool. Without
        a timeout, it waits while the shipper makes progress (``2 * send_timeout_s``).
        """
        deadline = time.monotonic() + (self._stall if timeout is None else timeout)
        done = self.flush(timeout)
        while done and self._factory is not None and not self._settled():
            if time.monotonic() >= deadline:
                done = False
                break
            self._buffer.wake()
            time.sleep(0.02)
        self._stopping = True
        self._buffer.wake()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return done and self.stats().lost == 0

    def _settled(self) -> bool:
        return not (self._degraded or self._inflight or self._buffer or self._held)

    def stats(self) -> ShipperStats:
        return ShipperStats(
            accepted=self.accepted,
            delivered=self._delivered,
            spooled=self._spooled,
            durable=self._durable,
            overflowed=self._buffer.overflowed,
            rejected=self._rejected,
            state=self.state,
            held=len(self._held) if self._failing else 0,
            lost=self._lost + self._buffer.dropped,
            restarts=self._restarts,
            control_lost=self._control_lost,
            write_failures=self._write_failures,
        )

    def _poke(self) -> None:
        """Look now, and try a failed write again now (a flush waits)."""
        self._write_at = 0.0
        self._buffer.wake()

    @property
    def state(self) -> str:
        if self._factory is None:
            return "embedded"
        return "degraded" if self._degraded else "online"

    # -- shipper thread -----------------------------------------------------------------------

    def _run(self) -> None:
        """The loop, started again after any unexpected error (a dead shipper would make
        every later record call wait and keep its events in memory for good)."""
        buffer = self._buffer
        while True:
            try:
                while not (self._stopping and not buffer):
                    buffer.begin_pass()
                    buffer.rest(self._step() or bool(self._inflight))
                self._shutdown()
                return
            except Exception as exc:
                self._restarts += 1
                self._once(f"loop:{type(exc).__name__}", "handrail shipper: unexpected error; "
                           "its loop starts again", exc_info=True)  # fmt: skip
                if self._stopping and self._restarts > 3:  # cannot even stop: give up
                    self._lost += len(self._held) + len(buffer)
                    return
                time.sleep(exponential(self._restarts, 0.02, 1.0))

    def _once(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a kind of trouble the first time only (it is counted in ``stats``)."""
        if kind not in self._logged:
            self._logged.add(kind)
            log.error(message, *args, exc_info=exc_info)

    def _step(self) -> bool:
        """One pass; True when there was work."""
        self._reap()
        if not self._degraded:
            busy = self._send_live()
            if self._inflight and (
                time.monotonic() - self._inflight[0].sent_at > self._send_timeout
            ):
                self._degrade(f"Kafka has not acknowledged events for {self._send_timeout}s")
            elif self._buffer.overflowed != self._overflow_seen:
                self._overflow_seen = self._buffer.overflowed
                self._degrade("the buffer stayed full for max_block_ms", backoff=False)
            return busy
        batch = self._buffer.take()
        if batch:
            self._hold(batch)
        wrote = False
        if (self._held or self._control) and time.monotonic() >= self._write_at:
            wrote = self._write()
        if self._factory is not None:
            self._replay()
        return bool(batch) or wrote

    def _unpack(self, packed: bytes) -> EventRecord | None:
        """The full record of a buffered event; None (set aside) when it cannot be built."""
        try:
            return self._record(packed)
        except Exception as exc:
            self._reject({"packed": packed.hex()}, error=exc, why="cannot be read")
            self._add_durable(1)
            return None

    def _hold(self, batch: list[bytes]) -> None:
        """Events taken for the spool wait in ``_held`` until written; while the spool
        cannot be written, at most ``buffer_max_events`` of them (newer ones are dropped and
        counted). Embedded, control events are queued for the control log too."""
        if self._failing:
            batch = batch[: self._drop_past(self._held_max - len(self._held), len(batch))]
        for packed in batch:
            record = self._unpack(packed)
            if record is None:
                continue
            if self._control_log is not None and record["payload"][0] in _CONTROL_NAMES:
                message = self._encode(record, None, 0)
                if message is None:
                    self._add_durable(1)  # set aside
                    continue
                if len(self._control) < self._held_max:
                    self._control.append(message)
                else:
                    self._control_lost += 1
            self._held.append(record)

    def _drop_past(self, room: int, n: int) -> int:
        """Of ``n`` events waiting for a spool that cannot be written, how many memory keeps
        (``room``); the rest are counted lost."""
        keep = max(0, min(room, n))
        if keep < n:
            self._lost += n - keep
            self._once("lost", "handrail: the spool cannot be written and %d events wait in "
                       "memory: dropping newer events (counted in stats().lost)",
                       self._held_max)  # fmt: skip
        return keep

    def _write(self) -> bool:
        """Write what waits: control events to the control log, then events to the spool.
        On failure what was not written waits, and the next try waits longer."""
        error: Exception | None = None
        if self._control and self._control_log is not None:
            try:
                self._control_log.append(list(self._control))
                self._control.clear()
            except OSError as exc:
                error = exc
        if self._held:
            records = list(self._held)
            try:
                rejected, done = self._spool.append(records), len(records)
            except SpoolWriteError as exc:
                error, done, rejected = exc, exc.done, 0
            for _ in range(done):
                self._held.popleft()
            self._rejected += rejected
            self._spooled += done - rejected
            self._add_durable(done)
        if error is None:
            if self._failing:
                log.warning("handrail: the spool is written again (%s)", self._spool.directory)
            self._failing = False
            self._write_backoff.reset()
            return True
        if not self._failing:
            log.warning("handrail: %s; up to %d events wait in memory and are written when "
                        "it can be", error, self._held_max)  # fmt: skip
        self._failing = True
        self._write_failures += 1
        for _ in range(self._drop_past(self._held_max, len(self._held)), len(self._held)):
            self._held.pop()
        with self._changed:
            self._changed.notify_all()
        self._write_at = time.monotonic() + self._write_backoff.next()
        return False

    def _add_durable(self, n: int) -> None:
        with self._changed:
            self._durable += n
            self._changed.notify_all()

    def _ensure_producer(self) -> bool:
        if self._producer is not None:
            return True
        if time.monotonic() < self._next_attempt or self._factory is None:
            return False
        try:
            self._producer = self._factory()
        except Exception as exc:
            self._retry_later(f"cannot connect to Kafka: {exc}")
            return False
        return True

    def _retry_later(self, why: str) -> None:
        if not self._backoff.failures:
            log.warning("handrail: %s; events go to the spool %s", why, self._spool.directory)
        self._next_attempt = time.monotonic() + self._backoff.next()

    def _send_live(self) -> bool:
        """Online: hand buffered events to Kafka, 64 at a time (freeing buffer room as it
        goes); on a failed send, that event and the rest of its 64 go to the spool."""
        buffer = self._buffer
        if not buffer:
            return False
        if not self._ensure_producer():
            self._degrade("Kafka unreachable")
            return True
        left = self._batch
        while left > 0 and buffer:
            chunk = buffer.take(min(64, left))
            left -= len(chunk)
            for i, packed in enumerate(chunk):
                record = self._unpack(packed)
                if record is None:
                    continue
                error = self._hand_over(record, None, 0)
                if error is not None:
                    unsent = [record, *(r for p in chunk[i + 1 :] if (r := self._unpack(p)))]
                    self._degrade(f"Kafka send failed: {error}", unsent)
                    return True
        return True

    def _send_replay(self, segment: Segment, indexes: list[int]) -> None:
        if not self._ensure_producer():
            return
        for i in indexes:
            error = self._hand_over(segment.records[i], segment, i)
            if error is not None:
                self._retry_later(f"Kafka send failed: {error}")
                return

    def _hand_over(
        self, record: EventRecord, origin: Segment | None, index: int
    ) -> Exception | None:
        """Give one event to the Kafka producer; return the error if Kafka seems away. One
        that cannot be encoded is set aside (the rejected file) and counts as handled."""
        value = self._encode(record, origin, index)
        if value is None:
            if origin is None:
                self._add_durable(1)
            return None
        try:
            key = record["workflow_id"].encode()
            future = self._producer.send(self._topic, value=value, key=key)
            if self._control_topic and record["payload"][0] in _CONTROL_NAMES:
                topic, control_key = destination(record, self._control_topic)
                copy = self._producer.send(topic, value=value, key=control_key)
                future = _Both(future, copy)
        except PERMANENT_ERRORS as exc:
            self._reject(record, origin, index, exc)
            return None
        except Exception as exc:  # metadata or buffer timeout: Kafka is away
            return exc
        if origin is not None:
            origin.sent.add(index)
        self._inflight.append(Flight(value, future, time.monotonic(), origin, index))
        return None

    def _encode(self, record: EventRecord, origin: Segment | None, index: int) -> bytes | None:
        """The event's message; None when it cannot be encoded (it is set aside)."""
        try:
            return encode(record)
        except Exception as exc:  # hostile values: surrogates, ints past Avro's long, ...
            self._reject(record, origin, index, exc, "cannot be encoded")
            return None

    def _reap(self) -> None:
        """Resolve finished flights in order; successes count, failures wait for replay."""
        inflight = self._inflight
        delivered = durable = 0
        while inflight and inflight[0].future.is_done:
            flight = inflight.popleft()
            if flight.future.succeeded():
                delivered += 1
                if flight.origin is None:
                    durable += 1
                else:
                    self._spool.confirm(flight.origin, flight.index)
                continue
            error = flight.future.exception
            if isinstance(error, PERMANENT_ERRORS):
                self._reject(flight.record, flight.origin, flight.index, error)
                durable += flight.origin is None
            elif flight.origin is None:
                # Online and failed: everything still unconfirmed goes to the spool.
                inflight.appendleft(flight)
                self._degrade(f"Kafka delivery failed: {error}")
            else:
                flight.origin.sent.discard(flight.index)
                self._retry_later(f"Kafka delivery failed: {error}")
        if delivered:
            self._delivered += delivered
            self._backoff.reset()
        if durable:
            self._add_durable(durable)

    def _degrade(
        self, why: str, unsent: list[EventRecord] | None = None, *, backoff: bool = True
    ) -> None:
        """Seal unconfirmed in-flight events into the spool and switch to degraded."""
        # One look at each future (Kafka's network thread resolves them meanwhile): a send
        # that resolves after it stays tracked in the segment, where ``_reap`` confirms a
        # success and a failure is sent again. Looking twice once resent 452 acked events.
        looks = [(f, _look(f.future)) for f in self._inflight if f.origin is None]
        acked = [f for f, look in looks if look == "acked"]
        for flight in acked:
            self._inflight.remove(flight)
        self._delivered += len(acked)
        pending = [(f, look) for f, look in looks if look != "acked"]
        sealed = [f.record for f, _ in pending] + (unsent or [])
        kept = 0
        if sealed:
            try:
                segment: Segment | None = self._spool.seal(sealed)
            except SpoolWriteError as exc:
                # In flight: they stay tracked as live sends (a failure degrades again and
                # seals them then). Unsent: they wait in memory ahead of newer events.
                self._held.extendleft(reversed(unsent or []))
                self._failing = True
                self._write_failures += 1
                self._once("seal", "handrail: %s; events wait in memory", exc)
                segment = None
            if segment is not None:
                for i, (flight, look) in enumerate(pending):
                    if look == "failed":  # the replay resends it
                        self._inflight.remove(flight)
                        continue
                    flight.origin, flight.index = segment, i
                    segment.sent.add(i)
                kept = len(sealed)
                self._spooled += len(segment.records)
                self._rejected += kept - len(segment.records)
        self._add_durable(len(acked) + kept)
        if not self._degraded:
            log.warning("handrail: %s; degraded: spooling to %s", why, self._spool.directory)
        self._degraded = True
        if backoff:
            self._retry_later(why)

    def _replay(self) -> None:
        """Send the next window of the oldest spool segment; go online when all is delivered."""
        if len(self._inflight) >= 4 * self._batch or time.monotonic() < self._next_attempt:
            return
        segment = self._spool.head()
        if segment is None:
            if not self._inflight and not self._held:
                self._degraded = False
                self._overflow_seen = (
                    self._buffer.overflowed
                )  # a full buffer while degraded was spooled
                log.warning("handrail: spool replayed; online again")
            return
        indexes = segment.unsent(self._batch)
        if indexes:
            self._send_replay(segment, indexes)

    def _reject(
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
            self._spool.reject(record, f"{why}: {error!r}"[:500])
            self._rejected += 1
        except OSError as exc:
            self._lost += 1
            self._once("reject", "handrail: the rejected file cannot be written: %s", exc)
        if origin is not None:
            self._spool.confirm(origin, index)

    def _shutdown(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._send_timeout)
            self._reap()
            self._producer.close(timeout=0)
            self._producer = None
        # Whatever is still unconfirmed and not in the spool goes there now.
        loose = [f.record for f in self._inflight if f.origin is None]
        self._inflight.clear()
        if loose:
            try:
                self._spool.seal(loose)
            except SpoolWriteError as exc:
                self._lost += len(loose)
                log.error("handrail: %s; %d events in flight are lost", exc, len(loose))
        if self._held or self._control:
            self._write()
        if self._held or self._control:
            log.error("handrail: the spool cannot be written; %d events (%d control log "
                      "entries) are lost", len(self._held), len(self._control))  # fmt: skip
            self._lost += len(self._held)
            self._control_lost += len(self._control)
            self._held.clear()
            self._control.clear()
        self._spool.close()
