"""Stage 1's reader: the events topic, fetched in batches by a plain aiokafka consumer.

Faust hands every message of a topic it reads through its conductor, a stream and a
per-message wait on four asyncio tasks: on two cores that alone caps a worker near 2,500
events/s, below a steady load it must keep well ahead of. The events topic is the one
topic that carries every event, so it is read here instead: whole fetches at a time
(``getmany``), in the worker's own event loop, by a consumer of its own group
(``ProcessorSettings.ingest_group``; Faust's group keeps the keyed, alerts and changelog
topics). Each batch is handed to ``handle`` (decode, route, send) and its offsets are
committed once every send it made is acknowledged, at most every ``commit_interval_s``,
and before partitions are given up. A crash re-reads what was not committed; the
detectors drop the repeats by event id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

log = logging.getLogger(__name__)

Handler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]
"""Routes one batch; returns once every message it sent is acknowledged."""


class Ingest(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        *,
        servers: list[str],
        topic: str,
        group: str,
        handle: Handler,
        revoked: Callable[[set[int]], None],
        batch_max_events: int,
        batch_max_s: float,
        commit_interval_s: float,
        session_timeout_s: float,
    ) -> None:
        self.topic = topic
        self._handle = handle
        self._revoked = revoked
        self._batch = batch_max_events
        self._wait_ms = int(batch_max_s * 1000)
        self._commit_every = commit_interval_s
        self._uncommitted = False
        self._options = {
            "bootstrap_servers": servers,
            "group_id": group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": batch_max_events,
            "session_timeout_ms": int(session_timeout_s * 1000),
            "heartbeat_interval_ms": int(session_timeout_s * 100),
        }
        self.consumer: AIOKafkaConsumer | None = None
        """Made in ``run``: an aiokafka client belongs to the event loop it starts in."""

    async def run(self) -> None:
        """Read, route and commit until cancelled (the worker stops)."""
        self.consumer = consumer = AIOKafkaConsumer(**self._options)
        await consumer.start()
        consumer.subscribe([self.topic], listener=self)
        committed_at = time.monotonic()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=self._wait_ms, max_records=self._batch)
                batch = [m for messages in fetched.values() for m in messages]
                if batch:
                    await self._handle(batch)
                    self._uncommitted = True
                if self._uncommitted and time.monotonic() - committed_at >= self._commit_every:
                    await self._commit()
                    committed_at = time.monotonic()
        finally:
            await asyncio.shield(consumer.stop())

    def partitions(self) -> set[TopicPartition]:
        if self.consumer is None:
            return set()
        return {tp for tp in self.consumer.assignment() if tp.topic == self.topic}

    async def _commit(self) -> None:
        assert self.consumer is not None, "commits happen while it runs"
        try:
            await self.consumer.commit()
            self._uncommitted = False
        except Exception as exc:  # a rebalance under way: its own commit covers it
            log.info("ingest: commit skipped (%s)", exc)

    # -- ConsumerRebalanceListener ---------------------------------------------------------

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Called between two batches: everything fetched so far is routed and acknowledged.
        if self._uncommitted:
            await self._commit()
        self._revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("ingest: reading %s", sorted(tp.partition for tp in assigned))
