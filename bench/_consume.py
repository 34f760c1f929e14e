"""The limit a processors worker is measured against (issue 25): a bare aiokafka consumer
reading a topic from its start to its end in whole fetches and decoding each message from
handrail's wire format, doing nothing else. Whatever a worker does beyond this is its own
cost."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from handrail.schemas import decode

STALL_S = 60.0
"""A read that fetches nothing for this long fails the run."""


async def _read(servers: str, topic: str, count: int, decoding: bool) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        read, started, moved = 0, time.perf_counter(), time.monotonic()
        while read < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for messages in batches.values():
                if decoding:
                    for m in messages:
                        decode(m.value or b"")
                read += len(messages)
            if batches:
                moved = time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                raise RuntimeError(f"consume {topic}: nothing fetched for {STALL_S:g} s "
                                   f"({read:,} of {total:,} read)")  # fmt: skip
        return read, time.perf_counter() - started
    finally:
        await consumer.stop()


def consume_rate(servers: str, topic: str, partitions: int, *, decoding: bool = True) -> float:
    """Events/s of reading ``topic`` (of ``partitions`` partitions) whole, decoding each
    message unless not ``decoding``."""
    read, seconds = asyncio.run(_read(servers, topic, partitions, decoding))
    return read / seconds
