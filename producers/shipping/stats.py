"""What a shipper counts: ``ShipperStats`` (a snapshot, also what a shipper process
reports), ``Tally`` (the thread shipper's running counts, shared by its parts) and
``await_kept``, the one flush of both shippers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


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


class Tally:
    """The thread shipper's running counts (see ``ShipperStats`` for each), written by its
    thread only; ``changed`` is notified when more events are kept (or a write failed), which
    a flush waits on. Also logs each kind of trouble once (``once``)."""

    def __init__(self) -> None:
        self.delivered = 0
        self.spooled = 0
        self.durable = 0
        self.rejected = 0
        self.lost = 0
        self.control_lost = 0
        self.restarts = 0
        self.write_failures = 0
        self.changed = threading.Condition(threading.Lock())
        self._logged: set[str] = set()
        """Kinds of trouble already logged (each is logged once, then only counted)."""

    def add_durable(self, n: int) -> None:
        with self.changed:
            self.durable += n
            self.changed.notify_all()

    def notify(self) -> None:
        """Wake a waiting flush (a write failed: what it waits for may wait on the disk)."""
        with self.changed:
            self.changed.notify_all()

    def once(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a kind of trouble the first time only (it is counted in ``stats``)."""
        if kind not in self._logged:
            self._logged.add(kind)
            log.error(message, *args, exc_info=exc_info)


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
