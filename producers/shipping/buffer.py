"""The bounded buffer between the agent's record calls and the one thread that collects
them (a shipper, or the link to a shipper process).

The agent side (``put``) makes no system call while events flow: the collector passes by
every ``LINGER_S`` on its own clock, and a ``put`` wakes it only after it dozed off
(idle). When the buffer is full, ``put`` wakes the collector and waits up to
``max_block_s`` for room, then goes on over the limit and counts an overflow: a record
call never blocks longer. Past twice the limit (a collector that cannot keep up or is
stuck) the event is dropped and counted instead: the buffer is always bounded. The
collector frees room as it takes events; a waiting agent goes on once the buffer is below
its low-water mark.

A collector's loop::

    while running:
        buffer.begin_pass()  # before looking for work, so no wake-up is lost
        busy = collect(buffer.take(...))
        buffer.rest(busy)
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

LINGER_S = 0.002
"""How often a busy collector passes by (the Kafka producer lingers 5 ms too)."""
IDLE_S = 0.1
"""How long an idle collector dozes before it looks again (a ``put`` wakes it sooner)."""


class EventBuffer(Generic[T]):
    """See the module docstring. One agent-side caller at a time (the recorder's lock)."""

    def __init__(self, max_events: int, max_block_s: float) -> None:
        self._events: deque[T] = deque()
        self.added = 0
        """Events ``put`` so far."""
        self.overflowed = 0
        """``put`` calls that waited ``max_block_s`` and went on over the limit."""
        self.dropped = 0
        """Events ``put`` found the buffer at its hard bound (twice the limit) for: lost."""
        self._max = max_events
        self._hard_max = 2 * max_events
        self._low_water = max_events - max(1, min(1024, max_events // 4))
        self._max_block = max_block_s
        self._wake = threading.Event()
        self._room = threading.Event()
        self._dozing = False

    def __len__(self) -> int:
        return len(self._events)

    # -- agent side ---------------------------------------------------------------------------

    def put(self, event: T) -> None:
        events = self._events
        if len(events) >= self._max:
            self._room.clear()
            self._wake.set()
            if len(events) >= self._max:
                self._room.wait(self._max_block)
            if len(events) >= self._max:
                self.overflowed += 1
        self.added += 1
        if len(events) >= self._hard_max:
            self.dropped += 1
            return
        events.append(event)
        if self._dozing:
            self._dozing = False
            self._wake.set()

    def wake(self) -> None:
        """Make the collector pass by now (a flush or a close)."""
        self._wake.set()

    # -- collector side -----------------------------------------------------------------------

    def begin_pass(self) -> None:
        self._wake.clear()

    def take(self, limit: int | None = None) -> list[T]:
        """Up to ``limit`` events (all by default), oldest first; frees their room."""
        events = self._events
        n = len(events) if limit is None else min(limit, len(events))
        taken = [events.popleft() for _ in range(n)]
        if len(events) <= self._low_water and not self._room.is_set():
            self._room.set()
        return taken

    def rest(self, busy: bool) -> None:
        """End a pass: wait ``LINGER_S`` while busy; when idle, doze until a ``put`` wakes
        it (``IDLE_S`` at most). A ``put`` checks the flag after appending, and the
        collector checks the buffer after raising it, so no event waits out a doze."""
        if busy:
            self._wake.wait(LINGER_S)
            return
        self._dozing = True
        if not self._events:
            self._wake.wait(IDLE_S)
        self._dozing = False
