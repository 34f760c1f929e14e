"""The thread shipper's Kafka side: the producer (connected lazily, again after a backoff
when Kafka is away), events handed to it and tracked in flight until Kafka resolves them,
and the sealing of what is in flight into the spool when the shipper degrades.

An event in flight is live (``origin`` None: durable once acknowledged) or a replay of a
spool segment (confirmed in its segment once acknowledged). Kafka refusals that no retry
can fix (``permanent_errors``) set the event aside in the spool's rejected file.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handrail.backoff import Backoff
from handrail.control.topics import destination
from handrail.producers.shipping.keeper import CONTROL_NAMES, SpoolKeeper
from handrail.producers.shipping.stats import Tally
from handrail.producers.shipping.transport import permanent_errors
from handrail.producers.spool import Segment
from handrail.schemas import EventRecord, decode

log = logging.getLogger(__name__)

ProducerFactory = Callable[[], Any]
"""Builds a connected kafka-python ``KafkaProducer`` (raises when Kafka is unreachable)."""


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


class Delivery:
    """Hands events to the Kafka producer and tracks them until Kafka resolves them.
    ``degrade`` is the shipper's switch to degraded, called when a live send failed."""

    def __init__(
        self,
        *,
        factory: ProducerFactory | None,
        topic: str,
        control_topic: str | None,
        keeper: SpoolKeeper,
        tally: Tally,
        degrade: Callable[[str], None],
        retry_backoff_max_s: float,
    ) -> None:
        self._factory = factory
        self._topic = topic
        self._control_topic = control_topic
        self._keeper = keeper
        self._tally = tally
        self._degrade = degrade
        self.inflight: deque[Flight] = deque()
        self._producer: Any = None
        self.next_attempt = 0.0
        """When Kafka may be tried again (after a failed connection or send)."""
        self._backoff = Backoff(0.1, retry_backoff_max_s)

    def ensure_producer(self) -> bool:
        if self._producer is not None:
            return True
        if time.monotonic() < self.next_attempt or self._factory is None:
            return False
        try:
            self._producer = self._factory()
        except Exception as exc:
            self.retry_later(f"cannot connect to Kafka: {exc}")
            return False
        return True

    def retry_later(self, why: str) -> None:
        if not self._backoff.failures:
            log.warning(
                "handrail: %s; events go to the spool %s", why, self._keeper.spool.directory
            )
        self.next_attempt = time.monotonic() + self._backoff.next()

    def send_replay(self, segment: Segment, indexes: list[int]) -> None:
        if not self.ensure_producer():
            return
        for i in indexes:
            error = self.hand_over(segment.records[i], segment, i)
            if error is not None:
                self.retry_later(f"Kafka send failed: {error}")
                return

    def hand_over(
        self, record: EventRecord, origin: Segment | None, index: int
    ) -> Exception | None:
        """Give one event to the Kafka producer; return the error if Kafka seems away. One
        that cannot be encoded is set aside (the rejected file) and counts as handled."""
        value = self._keeper.encode(record, origin, index)
        if value is None:
            if origin is None:
                self._tally.add_durable(1)
            return None
        try:
            key = record["workflow_id"].encode()
            future = self._producer.send(self._topic, value=value, key=key)
            if self._control_topic and record["payload"][0] in CONTROL_NAMES:
                topic, control_key = destination(record, self._control_topic)
                copy = self._producer.send(topic, value=value, key=control_key)
                future = _Both(future, copy)
        except permanent_errors() as exc:
            self._keeper.reject(record, origin, index, exc)
            return None
        except Exception as exc:  # metadata or buffer timeout: Kafka is away
            return exc
        if origin is not None:
            origin.sent.add(index)
        self.inflight.append(Flight(value, future, time.monotonic(), origin, index))
        return None

    def reap(self) -> None:
        """Resolve finished flights in order; successes count, failures wait for replay."""
        inflight, keeper = self.inflight, self._keeper
        delivered = durable = 0
        while inflight and inflight[0].future.is_done:
            flight = inflight.popleft()
            if flight.future.succeeded():
                delivered += 1
                if flight.origin is None:
                    durable += 1
                else:
                    keeper.spool.confirm(flight.origin, flight.index)
                continue
            error = flight.future.exception
            if isinstance(error, permanent_errors()):
                keeper.reject(flight.record, flight.origin, flight.index, error)
                durable += flight.origin is None
            elif flight.origin is None:
                # Online and failed: everything still unconfirmed goes to the spool.
                inflight.appendleft(flight)
                self._degrade(f"Kafka delivery failed: {error}")
            else:
                flight.origin.sent.discard(flight.index)
                self.retry_later(f"Kafka delivery failed: {error}")
        if delivered:
            self._tally.delivered += delivered
            self._backoff.reset()
        if durable:
            self._tally.add_durable(durable)

    def seal(self, unsent: list[EventRecord]) -> None:
        """Seal the unconfirmed live sends, then ``unsent``, into the spool (the shipper
        degrades)."""
        inflight = self.inflight
        # One look at each future (Kafka's network thread resolves them meanwhile): a send
        # that resolves after it stays tracked in the segment, where ``reap`` confirms a
        # success and a failure is sent again. Looking twice once resent 452 acked events.
        looks = [(f, _look(f.future)) for f in inflight if f.origin is None]
        acked = [f for f, look in looks if look == "acked"]
        for flight in acked:
            inflight.remove(flight)
        self._tally.delivered += len(acked)
        pending = [(f, look) for f, look in looks if look != "acked"]
        sealed = [f.record for f, _ in pending] + unsent
        kept = 0
        if sealed:
            # When the spool cannot be written, the live sends stay tracked as such (a
            # failure degrades again and seals them then); the unsent wait in memory.
            segment = self._keeper.seal(sealed, unsent)
            if segment is not None:
                for i, (flight, look) in enumerate(pending):
                    if look == "failed":  # the replay resends it
                        inflight.remove(flight)
                        continue
                    flight.origin, flight.index = segment, i
                    segment.sent.add(i)
                kept = len(sealed)
        self._tally.add_durable(len(acked) + kept)

    def stop(self, timeout_s: float) -> list[EventRecord]:
        """Flush and close the producer; the live sends still unconfirmed (to be spooled)."""
        if self._producer is not None:
            self._producer.flush(timeout_s)
            self.reap()
            self._producer.close(timeout=0)
            self._producer = None
        loose = [f.record for f in self.inflight if f.origin is None]
        self.inflight.clear()
        return loose
