"""The agent's side of a shipper process (``producer.shipper = "process"``).

``put`` queues each packed event (``session.py``) in an ``EventBuffer``; a writer thread
sends the whole buffer to the shipper process (``process.py``) in one frame every
``LINGER_S`` while events flow, and dozes when idle (the next ``put`` wakes it). A reader
thread takes the process's reports, which answer ``stats`` and ``flush``. The promises are
the thread shipper's: a record call waits at most ``max_block_ms`` for queue space and
never raises on transport trouble.

If the shipper process dies, the recorder goes on with a thread shipper on the same spool
directory (which adopts what the dead process spooled) and logs an error: the events that
process held in memory and had not spooled are lost, as a thread shipper's buffer is lost
when its process is killed (they are counted in ``stats().lost``). If the agent's
process dies, the shipper process still reads what reached the pipe, delivers or spools
it, and exits (``unwritten``: what had not). ``flush`` and ``close`` return by their
timeout; without one, once nothing progressed for ``2 * send_timeout_s`` (plus
``START_GRACE_S``: the process may still be starting).
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import replace

from handrail.producers.packing import pack
from handrail.producers.session import Session
from handrail.producers.shipping.buffer import EventBuffer
from handrail.producers.shipping.link import (
    CLOSE,
    CLOSED,
    CONFIG,
    EVENTS,
    read_frame,
    unpack_stats,
    write_frame,
)
from handrail.producers.shipping.shipper import Shipper
from handrail.producers.shipping.stats import ShipperStats, await_kept
from handrail.settings import Settings

log = logging.getLogger(__name__)

START_GRACE_S = 15.0
"""Added to a close timeout: the shipper process may still be importing its modules."""


class RemoteShipper:
    """Starts a shipper process and feeds it. See the module docstring."""

    def __init__(self, settings: Settings, session: Session) -> None:
        self.lock = threading.Lock()
        self._settings, self._session = settings, session
        self._queue: EventBuffer[bytes] = EventBuffer(
            settings.producer.buffer_max_events, settings.producer.max_block_ms / 1000
        )
        self.put = self._queue.put
        """Queue one packed event (``session.py``). The caller holds ``self.lock``. Never
        blocks past ``max_block_ms``. Once the shipper process died: the fallback's."""
        self._moved = 0
        """Events queued here that went to the fallback when the process died."""
        self._dead_lost = 0
        """Events the dead process held and had not made durable: lost with it."""
        self._stall = 2 * settings.producer.send_timeout_s + START_GRACE_S
        self._closing = False
        self._close_timeout: float | None = None
        self._written = 0
        self._report = ShipperStats(0, 0, 0, 0, 0, 0, "starting")
        self._closed: bool | None = None
        """What the process said when it closed: True if everything reached Kafka."""
        self._changed = threading.Condition()
        self._fallback: Shipper | None = None
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "handrail.producers.shipping.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C meant for the agent must not cut it short
        )
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None
        assert stdout is not None
        self._stdin, self._stdout = stdin, stdout
        write_frame(self._stdin, CONFIG, pickle.dumps((settings, session)))
        for target, name in ((self._write, "link"), (self._read, "reports")):
            threading.Thread(target=target, name=f"handrail-shipper-{name}", daemon=True).start()

    @property
    def unwritten(self) -> int:
        """Events not yet in the pipe: they die with the agent's process. While the shipper
        process keeps up, that is at most 2 ms of events; when it falls behind (Kafka slower
        than the agent) the pipe fills and up to ``buffer_max_events`` wait here."""
        return self.accepted - self._written if self._fallback is None else 0

    @property
    def accepted(self) -> int:
        """Events ``put`` so far."""
        if self._fallback is None:
            return self._queue.added
        return self._queue.added - self._moved + self._fallback.accepted

    @property
    def pid(self) -> int:
        """The shipper process's id."""
        return self._proc.pid

    # -- agent side ---------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event accepted so far is delivered or spooled (``await_kept``):
        True when it is and none was ever lost."""
        return await_kept(
            self.stats, self.accepted, timeout, self._changed,
            stall_s=self._stall, poke=self._queue.wake,
        )  # fmt: skip

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, then let the process deliver what it can within ``timeout``
        and stop. True when everything reached Kafka (or, embedded, the spool); what is left
        stays in the spool for the next recorder."""
        deadline = None if timeout is None else time.monotonic() + timeout + START_GRACE_S
        with self._changed:
            self._close_timeout, self._closing = timeout, True
            self._queue.wake()
            seen, since = self._report, time.monotonic()
            while self._closed is None and self._fallback is None:
                now = time.monotonic()
                if self._report != seen:  # without a timeout: wait while it progresses
                    seen, since = self._report, now
                left = since + self._stall - now if deadline is None else deadline - now
                if left <= 0:
                    log.warning("handrail: the shipper process has not closed in time")
                    return False
                self._changed.wait(min(left, 0.5))
        if self._fallback is not None:
            return self._fallback.close(timeout)
        self._proc.wait()
        return bool(self._closed) and self.stats().lost == 0

    def stats(self) -> ShipperStats:
        report, fallback, queue = self._report, self._fallback, self._queue
        if fallback is None:
            return replace(
                report,
                accepted=self.accepted,
                overflowed=report.overflowed + queue.overflowed,
                lost=report.lost + queue.dropped,
            )
        f = fallback.stats()
        return ShipperStats(
            accepted=self.accepted,
            delivered=report.delivered + f.delivered,
            spooled=report.spooled + f.spooled,
            durable=report.durable + f.durable,
            overflowed=report.overflowed + queue.overflowed + f.overflowed,
            rejected=report.rejected + f.rejected,
            state=f.state,
            held=f.held,
            lost=report.lost + queue.dropped + self._dead_lost + f.lost,
            restarts=report.restarts + f.restarts,
            control_lost=report.control_lost + f.control_lost,
            write_failures=report.write_failures + f.write_failures,
        )

    # -- threads ------------------------------------------------------------------------------

    def _write(self) -> None:
        """Send the queue every ``LINGER_S`` while events flow; at close, send ``CLOSE``."""
        queue, batch = self._queue, []
        try:
            while True:
                queue.begin_pass()
                busy = bool(queue)
                if busy:
                    batch = queue.take()
                    write_frame(self._stdin, EVENTS, pack(batch))
                    self._written += len(batch)
                    batch = []
                elif self._closing:
                    write_frame(self._stdin, CLOSE, pack(self._close_timeout))
                    self._stdin.close()
                    return
                queue.rest(busy)
        except (OSError, ValueError):  # the process is gone: its pipe is broken or closed
            self._lost(batch)

    def _read(self) -> None:
        """Take the process's reports until it ends."""
        while (frame := read_frame(self._stdout)) is not None:
            kind, body = frame
            stats, extra = unpack_stats(body)
            with self._changed:
                self._report = stats
                if kind == CLOSED:
                    self._closed = bool(extra[0])
                self._changed.notify_all()
        if self._closed is None:
            self._lost([])

    def _lost(self, unsent: list[bytes]) -> None:
        """The shipper process died: go on with a thread shipper in this process."""
        with self.lock:
            if self._fallback is not None:
                return
            code = self._proc.wait()
            report = self._report
            held = max(0, self._written - report.durable - report.lost)
            try:
                fallback = Shipper.from_settings(self._settings, self._session)
            except Exception as exc:  # no spool either: events queue here (bounded, counted)
                log.error("handrail: the shipper process exited (code %s) and no shipper can "
                          "start in the agent's process: %s", code, exc)  # fmt: skip
                return
            log.error(
                "handrail: the shipper process exited (code %s); up to %d events it held are "
                "lost; shipping from the agent's process now",
                code, held,
            )  # fmt: skip
            moved = [*unsent, *self._queue.take()]
            for packed in moved:
                fallback.put(packed)
            self._moved, self.put = len(moved), fallback.put
            self._dead_lost = held
            with self._changed:
                self._fallback = fallback
                self._changed.notify_all()
