"""Acks that wait for the state: a keyed message is acked, so its offset may be committed,
only once the changelog writes its judgement made are in Kafka.

Faust commits an acked offset after ``producer.flush()``, but that flush gives up on the
table writes still in its buffer once 100 ms pass without one being sent (a busy or
descheduled event loop), and the buffer is dropped when the worker stops. The offset could
then be committed while the state it stands for never reached the changelog: the next
owner of the partition recovered the older state and went on after the message, and a
storm judged half before and half after the hand-over was never paged. Here the detect
stage reads without Faust's acks and acks each message, in offset order, when every
changelog write made while judging it is acknowledged; a write that fails leaves its
message unacked, to be judged again by the next owner (the detectors drop repeats).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from faust.types import EventT

log = logging.getLogger(__name__)


class WrittenTable(faust.Table[Any, Any]):
    """A table that keeps the changelog writes made since ``take_writes`` last ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._writes: list[asyncio.Future[Any]] = []
        super().__init__(*args, **kwargs)

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self._writes.append(future)
        return future

    def take_writes(self) -> list[asyncio.Future[Any]]:
        writes, self._writes = self._writes, []
        return writes


@dataclass(eq=False)
class _Judged:
    event: EventT[Any]
    waiting: int
    failed: bool = False


class OrderedAcks:
    """Acks each keyed partition's messages in offset order, each once the changelog
    writes made while judging it are acknowledged. In order, because Faust commits past
    a single unacked message at the head of a partition (and past any, before the
    partition's first commit)."""

    def __init__(self) -> None:
        self._queues: dict[Any, deque[_Judged]] = {}

    def add(self, event: EventT[Any], writes: list[asyncio.Future[Any]]) -> None:
        """``event`` was judged, making ``writes``; ack it when they and every message
        before it are done. A failed write leaves it, and what follows, unacked: the
        partition's next owner judges them again (the detectors drop repeats)."""
        queue = self._queues.setdefault(event.message.tp, deque())
        judged = _Judged(event, len(writes))
        queue.append(judged)
        for write in writes:
            write.add_done_callback(partial(self._written, queue, judged))
        self._release(queue)

    def forget(self) -> None:
        """Partitions were revoked: what is still waiting will be judged again."""
        self._queues.clear()

    def _written(self, queue: deque[_Judged], judged: _Judged, write: asyncio.Future[Any]) -> None:
        if _failed(write):
            judged.failed = True
        judged.waiting -= 1
        self._release(queue)

    @staticmethod
    def _release(queue: deque[_Judged]) -> None:
        while queue and not queue[0].waiting and not queue[0].failed:
            queue.popleft().event.ack()


def _failed(write: asyncio.Future[Any]) -> bool:
    if write.cancelled():
        log.error("detect: a changelog write was cancelled; its message is left unacked")
        return True
    if (error := write.exception()) is not None:
        log.error("detect: a changelog write failed (%s); its message is left unacked", error)
        return True
    return False
