"""The detect stage's offsets: a keyed message is done once the changelog writes its
judgement made are acknowledged, a partition's messages in the order judged, and the
commit line moves only over offsets done with none missing before them. No broker: the
writes are asyncio futures, partitions are plain names."""

from __future__ import annotations

import asyncio
from typing import Any

from handrail.processors.changelog_acks import RESEEK_S, CommitLine, OrderedAcks


def test_done_waits_for_the_writes_and_keeps_offset_order() -> None:
    async def run() -> list[dict[Any, int]]:
        loop = asyncio.get_running_loop()
        acks = OrderedAcks()
        slow: asyncio.Future[Any] = loop.create_future()
        acks.add("p0", 0, [slow], None)
        acks.add("p0", 1, [], None)  # a tick that wrote nothing: waits behind the first
        fast: asyncio.Future[Any] = loop.create_future()
        acks.add("p0", 2, [fast], None)
        fast.set_result(None)
        await asyncio.sleep(0)
        seen = [acks.line.take_due()]
        slow.set_result(None)
        await asyncio.sleep(0)
        return [*seen, acks.line.take_due()]

    assert asyncio.run(run()) == [{}, {"p0": 3}]


def test_partitions_are_done_apart() -> None:
    async def run() -> dict[Any, int]:
        loop = asyncio.get_running_loop()
        acks = OrderedAcks()
        held: asyncio.Future[Any] = loop.create_future()
        acks.add("p0", 0, [held], None)
        acks.add("p1", 5, [], None)
        await asyncio.sleep(0)
        return acks.line.take_due()

    assert asyncio.run(run()) == {"p1": 6}


def test_a_failed_write_leaves_its_message_and_the_rest_not_done() -> None:
    async def run() -> dict[Any, int]:
        loop = asyncio.get_running_loop()
        acks = OrderedAcks()
        failed: asyncio.Future[Any] = loop.create_future()
        acks.add("p0", 0, [failed], None)
        acks.add("p0", 1, [], None)
        failed.set_exception(OSError("broker gone"))
        await asyncio.sleep(0)
        return acks.line.take_due()

    assert asyncio.run(run()) == {}


def test_writes_done_after_a_revocation_move_nothing() -> None:
    async def run() -> tuple[list[Any], dict[Any, int]]:
        loop = asyncio.get_running_loop()
        acks = OrderedAcks()
        late: asyncio.Future[Any] = loop.create_future()
        acks.add("p0", 4, [late], 4)
        unsettled = acks.unsettled()
        acks.forget()
        late.set_result(None)
        await asyncio.sleep(0)
        return unsettled, acks.line.take_due()

    unsettled, due = asyncio.run(run())
    assert len(unsettled) == 1
    assert due == {}


def test_the_line_never_passes_a_message_not_judged() -> None:
    """The defect: messages Faust delivered to nobody (dropped from its buffers in a
    rebalance) were committed once a later one was acked. Read from 10, 10 and 13 done:
    the line stays at 11 and asks for a seek back to it; 11 and 12 done: it moves to 14."""
    line = CommitLine()
    line.done("p0", 10, committed=10)
    line.done("p0", 13, committed=10)
    assert line.take_due() == {"p0": 11}
    assert line.holes(now=0.0) == {"p0": 11}
    assert line.holes(now=0.0) == {}  # asked once ...
    assert line.holes(now=RESEEK_S) == {"p0": 11}  # ... and again if still not filled
    line.done("p0", 11, committed=10)
    line.done("p0", 12, committed=10)
    line.done("p0", 13, committed=10)  # read again after the seek: a repeat
    assert line.take_due() == {"p0": 14}
    assert line.holes(now=2 * RESEEK_S) == {}


def test_the_line_starts_where_the_partition_was_read_from() -> None:
    """The first message judged after an assignment is not where reading began: the
    line stays at the committed offset instead of jumping over what came before."""
    line = CommitLine()
    line.done("p0", 7, committed=3)
    assert line.take_due() == {}
    assert line.holes(now=0.0) == {"p0": 3}
    fresh = CommitLine()  # never committed: the first message judged is the start
    fresh.done("p0", 0, committed=None)
    assert fresh.take_due() == {"p0": 1}


def test_repeats_below_the_line_and_a_revocation_start_again() -> None:
    line = CommitLine()
    for offset in (5, 6, 5):
        line.done("p0", offset, committed=5)
    assert line.take_due() == {"p0": 7}
    line.forget()
    line.done("p0", 9, committed=9)
    assert line.take_due() == {"p0": 10}
