"""The detect stage's acks: a keyed message is acked once the changelog writes its
judgement made are acknowledged, and a partition's messages in offset order (Faust commits
past one unacked message at a partition's head). No broker: the writes are asyncio
futures, the events stand in for Faust's (a partition and an ack)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from handrail.processors.changelog_acks import OrderedAcks


@dataclass
class _Message:
    tp: str
    offset: int


@dataclass
class _Event:
    message: _Message
    acked: list[int] = field(default_factory=list)

    def ack(self) -> bool:
        self.acked.append(self.message.offset)
        return True


def _events(tp: str, offsets: range, log: list[int]) -> list[Any]:
    return [_Event(_Message(tp, o), log) for o in offsets]


def test_acks_wait_for_the_writes_and_keep_offset_order() -> None:
    async def run() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        acked: list[int] = []
        acks = OrderedAcks()
        first, second, third = _events("p0", range(3), acked)
        slow: asyncio.Future[Any] = loop.create_future()
        acks.add(first, [slow])
        acks.add(second, [])  # a tick that wrote nothing: waits behind the first
        fast: asyncio.Future[Any] = loop.create_future()
        acks.add(third, [fast])
        fast.set_result(None)
        await asyncio.sleep(0)
        seen = [list(acked)]
        slow.set_result(None)
        await asyncio.sleep(0)
        return [*seen, list(acked)]

    assert asyncio.run(run()) == [[], [0, 1, 2]]


def test_partitions_are_acked_apart() -> None:
    async def run() -> list[int]:
        loop = asyncio.get_running_loop()
        acked: list[int] = []
        acks = OrderedAcks()
        held: asyncio.Future[Any] = loop.create_future()
        acks.add(_events("p0", range(1), acked)[0], [held])
        acks.add(_events("p1", range(5, 6), acked)[0], [])
        await asyncio.sleep(0)
        return acked

    assert asyncio.run(run()) == [5]


def test_a_failed_write_leaves_its_message_and_the_rest_unacked() -> None:
    async def run() -> list[int]:
        loop = asyncio.get_running_loop()
        acked: list[int] = []
        acks = OrderedAcks()
        first, second = _events("p0", range(2), acked)
        failed: asyncio.Future[Any] = loop.create_future()
        acks.add(first, [failed])
        acks.add(second, [])
        failed.set_exception(OSError("broker gone"))
        await asyncio.sleep(0)
        return acked

    assert asyncio.run(run()) == []
