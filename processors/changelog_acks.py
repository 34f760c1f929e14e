"""The detect stage's offsets: a keyed message counts as read, so its offset may be
committed, only once the changelog writes its judgement made are in Kafka, and only when
every message before it on its partition counts as read too.

Faust commits an acked offset after ``producer.flush()``, but that flush gives up on the
table writes still in its buffer once 100 ms pass without one being sent (a busy or
descheduled event loop), and the buffer is dropped when the worker stops. Here the detect
stage marks each message done, in offset order, when every changelog write made while
judging it is acknowledged (``OrderedAcks``); a write that fails leaves its message, and
what follows, not done, to be judged again by the partition's next owner (the detectors
drop repeats).

Faust's own acks cannot be trusted with the keyed topic at all, so the worker turns them
off for it (``acks=False``) and commits the ``CommitLine`` itself. Faust's stream acks
every message it *skips*, noack stream or not: one fetched before a rebalance and reaching
the stream after it (stale generation, or flow suspended). Its consumer takes such an ack
while it does not know the partition's committed offset (from a revocation until the seek
that ends recovery) and then commits past the first run of acked offsets without looking
for a hole before it; it also counts a hole in the offsets it delivers as acked. Either way
the messages routed while a worker joined or left were committed unjudged, and their
storms never paged. The ``CommitLine`` moves only over offsets judged here, without a gap
from where the partition was read from; a hole asks for a seek back to its first offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

log = logging.getLogger(__name__)

RESEEK_S = 2.0
"""A seek back to a hole that has not filled it within this long is asked for again (a
fetch under way when Faust seeks moves its read offset past the hole once more)."""


class WrittenTable(faust.Table[Any, Any]):
    """A table that keeps the changelog writes made since ``take_writes`` last ran, by
    changelog partition.

    ``partition_for``: the changelog partition of a key (default: Faust's, the partition
    of the message being handled, which is wrong for a key judged in a batch that ends
    with another partition's message)."""

    def __init__(
        self, *args: Any, partition_for: Callable[[Any], int] | None = None, **kwargs: Any
    ) -> None:
        self._writes: dict[int, list[asyncio.Future[Any]]] = {}
        self._partition_for = partition_for
        super().__init__(*args, **kwargs)

    def partition_for_key(self, key: Any) -> int | None:
        if self._partition_for is None:
            return super().partition_for_key(key)
        return self._partition_for(key)

    def send_changelog(self, partition: int | None, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(partition, *args, **kwargs)
        self._writes.setdefault(partition or 0, []).append(future)
        return future

    def take_writes(self) -> dict[int, list[asyncio.Future[Any]]]:
        writes, self._writes = self._writes, {}
        return writes


class CommitLine:
    """Per keyed partition, the offset to resume from: every message before it judged,
    with its writes acknowledged, and none missing (pure, no Faust)."""

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}
        """Per partition, the first offset not done yet."""
        self._ahead: dict[Hashable, set[int]] = {}
        """Done, but after an offset that is not: a hole, waiting to be filled."""
        self._due: dict[Hashable, int] = {}
        self._asked: dict[Hashable, tuple[int, float]] = {}

    def done(self, tp: Hashable, offset: int, committed: int | None) -> None:
        """``offset`` of ``tp`` was judged and its writes are in Kafka. ``committed``: where
        the partition was read from since it was assigned, if known; else the first offset
        done since then is taken for it."""
        start = self._next.get(tp)
        if start is None:
            start = offset if committed is None else committed
        if offset < start:  # a repeat of one done already
            self._next[tp] = start
            return
        ahead = self._ahead.setdefault(tp, set())
        ahead.add(offset)
        line = start
        while line in ahead:
            ahead.discard(line)
            line += 1
        self._next[tp] = line
        if line != start:
            self._due[tp] = line

    def take_due(self) -> dict[Hashable, int]:
        """The partitions whose line moved since last taken: the offsets to commit."""
        due, self._due = self._due, {}
        return due

    def holes(self, now: float) -> dict[Hashable, int]:
        """The partitions with a hole before offsets done: the offset to seek back to, each
        once (again after ``RESEEK_S`` if the hole is still there)."""
        seeks = {}
        for tp, ahead in self._ahead.items():
            line = self._next[tp]
            asked = self._asked.get(tp)
            if ahead and (asked is None or asked[0] != line or now - asked[1] >= RESEEK_S):
                seeks[tp] = line
                self._asked[tp] = (line, now)
        return seeks

    def forget(self) -> None:
        """Partitions were revoked: each starts again from its committed offset."""
        self._next.clear()
        self._ahead.clear()
        self._due.clear()
        self._asked.clear()


@dataclass(eq=False)
class _Judged:
    offset: int
    committed: int | None
    writes: list[asyncio.Future[Any]]
    waiting: int
    failed: bool = False


class OrderedAcks:
    """Marks each keyed partition's messages done on the ``CommitLine``, in the order
    judged, each once the changelog writes made while judging it are acknowledged."""

    def __init__(self) -> None:
        self.line = CommitLine()
        self._queues: dict[Hashable, deque[_Judged]] = {}

    def add(
        self, tp: Hashable, offset: int, writes: list[asyncio.Future[Any]], committed: int | None
    ) -> None:
        """The message at ``offset`` of ``tp`` was judged, making ``writes``; mark it done
        when they and every message judged before it are. A failed write leaves it, and what
        follows, not done: the partition's next owner judges them again (the detectors drop
        repeats). ``committed``: see ``CommitLine.done``."""
        queue = self._queues.setdefault(tp, deque())
        judged = _Judged(offset, committed, writes, len(writes))
        queue.append(judged)
        for write in writes:
            write.add_done_callback(partial(self._written, tp, queue, judged))
        self._release(tp, queue)

    def unsettled(self) -> list[asyncio.Future[Any]]:
        """The writes of the messages judged that are not acknowledged yet."""
        return [w for q in self._queues.values() for j in q for w in j.writes if not w.done()]

    def forget(self) -> None:
        """Partitions were revoked: what is still waiting will be judged again."""
        self._queues.clear()
        self.line.forget()

    def _written(
        self, tp: Hashable, queue: deque[_Judged], judged: _Judged, write: asyncio.Future[Any]
    ) -> None:
        if _failed(write):
            judged.failed = True
        judged.waiting -= 1
        self._release(tp, queue)

    def _release(self, tp: Hashable, queue: deque[_Judged]) -> None:
        if self._queues.get(tp) is not queue:
            return  # forgotten: its partition was revoked meanwhile
        while queue and not queue[0].waiting and not queue[0].failed:
            judged = queue.popleft()
            self.line.done(tp, judged.offset, judged.committed)


def _failed(write: asyncio.Future[Any]) -> bool:
    if write.cancelled():
        log.error("detect: a changelog write was cancelled; its message is left unacked")
        return True
    if (error := write.exception()) is not None:
        log.error("detect: a changelog write failed (%s); its message is left unacked", error)
        return True
    return False
