"""The shipper: one background thread that moves recorded events to Kafka or the spool.

Agent threads only append to an in-memory buffer (``put``: an ``EventBuffer`` of packed
events, ``session.py``; bounded, and no system call while events flow); the shipper
thread alone talks to Kafka (``delivery.py``) and to the spool (``keeper.py``), so order
is simple to keep.

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

from handrail.backoff import exponential
from handrail.control.log import ControlLog
from handrail.files import FileModes
from handrail.producers.session import Session
from handrail.producers.shipping.buffer import EventBuffer
from handrail.producers.shipping.delivery import Delivery, ProducerFactory
from handrail.producers.shipping.keeper import SpoolKeeper
from handrail.producers.shipping.stats import ShipperStats, Tally, await_kept
from handrail.producers.shipping.transport import kafka_producer_factory
from handrail.producers.spool import Spool
from handrail.schemas import EventRecord
from handrail.settings import Settings

log = logging.getLogger(__name__)


class Shipper:
    """Owns the buffer and the thread; its Kafka side (``Delivery``) and its spool side
    (``SpoolKeeper``) share one ``Tally``. See the module docstring."""

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
        self._embedded = producer_factory is None
        self._batch = batch_max_events
        self._send_timeout = send_timeout_s
        self._buffer: EventBuffer[bytes] = EventBuffer(buffer_max_events, max_block_ms / 1000)
        self._tally = tally = Tally()
        self._keeper = SpoolKeeper(
            spool=spool,
            control_log=control_log,
            unpack=session.unpack,
            tally=tally,
            held_max=buffer_max_events,
            retry_backoff_max_s=retry_backoff_max_s,
        )
        self._delivery = Delivery(
            factory=producer_factory,
            topic=topic,
            control_topic=control_topic,
            keeper=self._keeper,
            tally=tally,
            degrade=self._degrade,
            retry_backoff_max_s=retry_backoff_max_s,
        )
        self._stall = 2 * send_timeout_s
        self.lock = threading.Lock()
        """Held by the recorder while it numbers and buffers an event (keeps order)."""
        self._degraded = producer_factory is None or not spool.is_empty()
        self._stopping = False
        self.put = self._buffer.put
        """Buffer one packed event (``session.py``). The caller holds ``self.lock``. Never
        blocks past ``max_block_ms``."""
        self._overflow_seen = 0
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
            self.stats, self.accepted, timeout, self._tally.changed,
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
        while done and not self._embedded and not self._settled():
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
        return not (self._degraded or self._delivery.inflight or self._buffer or self._keeper.held)

    def stats(self) -> ShipperStats:
        tally, keeper = self._tally, self._keeper
        return ShipperStats(
            accepted=self.accepted,
            delivered=tally.delivered,
            spooled=tally.spooled,
            durable=tally.durable,
            overflowed=self._buffer.overflowed,
            rejected=tally.rejected,
            state=self.state,
            held=len(keeper.held) if keeper.failing else 0,
            lost=tally.lost + self._buffer.dropped,
            restarts=tally.restarts,
            control_lost=tally.control_lost,
            write_failures=tally.write_failures,
        )

    def _poke(self) -> None:
        """Look now, and try a failed write again now (a flush waits)."""
        self._keeper.write_at = 0.0
        self._buffer.wake()

    @property
    def state(self) -> str:
        if self._embedded:
            return "embedded"
        return "degraded" if self._degraded else "online"

    # -- shipper thread -----------------------------------------------------------------------

    def _run(self) -> None:
        """The loop, started again after any unexpected error (a dead shipper would make
        every later record call wait and keep its events in memory for good)."""
        buffer, tally = self._buffer, self._tally
        while True:
            try:
                while not (self._stopping and not buffer):
                    buffer.begin_pass()
                    buffer.rest(self._step() or bool(self._delivery.inflight))
                self._shutdown()
                return
            except Exception as exc:
                tally.restarts += 1
                tally.once(f"loop:{type(exc).__name__}", "handrail shipper: unexpected error; "
                           "its loop starts again", exc_info=True)  # fmt: skip
                if self._stopping and tally.restarts > 3:  # cannot even stop: give up
                    tally.lost += len(self._keeper.held) + len(buffer)
                    return
                time.sleep(exponential(tally.restarts, 0.02, 1.0))

    def _step(self) -> bool:
        """One pass; True when there was work."""
        delivery, keeper = self._delivery, self._keeper
        delivery.reap()
        if not self._degraded:
            busy = self._send_live()
            inflight = delivery.inflight
            if inflight and time.monotonic() - inflight[0].sent_at > self._send_timeout:
                self._degrade(f"Kafka has not acknowledged events for {self._send_timeout}s")
            elif self._buffer.overflowed != self._overflow_seen:
                self._overflow_seen = self._buffer.overflowed
                self._degrade("the buffer stayed full for max_block_ms", backoff=False)
            return busy
        batch = self._buffer.take()
        if batch:
            keeper.hold(batch)
        wrote = False
        if (keeper.held or keeper.control) and time.monotonic() >= keeper.write_at:
            wrote = keeper.write()
        if not self._embedded:
            self._replay()
        return bool(batch) or wrote

    def _send_live(self) -> bool:
        """Online: hand buffered events to Kafka, 64 at a time (freeing buffer room as it
        goes); on a failed send, that event and the rest of its 64 go to the spool."""
        buffer, delivery, unpack = self._buffer, self._delivery, self._keeper.unpack
        if not buffer:
            return False
        if not delivery.ensure_producer():
            self._degrade("Kafka unreachable")
            return True
        left = self._batch
        while left > 0 and buffer:
            chunk = buffer.take(min(64, left))
            left -= len(chunk)
            for i, packed in enumerate(chunk):
                record = unpack(packed)
                if record is None:
                    continue
                error = delivery.hand_over(record, None, 0)
                if error is not None:
                    unsent = [record, *(r for p in chunk[i + 1 :] if (r := unpack(p)))]
                    self._degrade(f"Kafka send failed: {error}", unsent)
                    return True
        return True

    def _degrade(
        self, why: str, unsent: list[EventRecord] | None = None, *, backoff: bool = True
    ) -> None:
        """Seal unconfirmed in-flight events into the spool and switch to degraded."""
        self._delivery.seal(unsent or [])
        if not self._degraded:
            log.warning("handrail: %s; degraded: spooling to %s", why, self._keeper.spool.directory)
        self._degraded = True
        if backoff:
            self._delivery.retry_later(why)

    def _replay(self) -> None:
        """Send the next window of the oldest spool segment; go online when all is delivered."""
        delivery, keeper = self._delivery, self._keeper
        if len(delivery.inflight) >= 4 * self._batch or time.monotonic() < delivery.next_attempt:
            return
        segment = keeper.spool.head()
        if segment is None:
            if not delivery.inflight and not keeper.held:
                self._degraded = False
                # a full buffer while degraded was spooled
                self._overflow_seen = self._buffer.overflowed
                log.warning("handrail: spool replayed; online again")
            return
        indexes = segment.unsent(self._batch)
        if indexes:
            delivery.send_replay(segment, indexes)

    def _shutdown(self) -> None:
        # Whatever is still unconfirmed and not in the spool goes there now.
        self._keeper.close(self._delivery.stop(self._send_timeout))
