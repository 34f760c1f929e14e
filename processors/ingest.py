"""Stage 1's reader: the events topic, fetched in batches by a plain aiokafka consumer.

Faust hands every message of a topic it reads through its conductor, a stream and a
per-message wait on four asyncio tasks: on two cores that alone caps a worker near 2,500
events/s, below a steady load it must keep well ahead of. The events topic is the one
topic that carries every event, so it is read here instead: whole fetches at a time
(``getmany``), in the worker's own event loop, by a consumer of its own group
(``ProcessorSettings.ingest_group``; Faust's group keeps the keyed, alerts and changelog
topics). Fetches are gathered into a batch of up to ``batch_max_events`` events, or what
came within ``batch_max_s`` of its first one (the fewer keyed messages per event, the
less the detect stage has to do), and handed to ``handle`` (decode, route, send). The next
batch is read while a batch's sends are in flight (up to ``IN_FLIGHT`` batches); batches
count as routed in the order read, each once every send it made is acknowledged, and what
was routed is committed at most every ``commit_interval_s``, and before partitions are
given up. A crash re-reads what was not
committed; the detectors drop the repeats by event id. The consumer joins the cluster with
the same security options as every other client (``handrail.kafka_clients``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from handrail.batching import BatchWindow
from handrail.kafka_clients import aiokafka_options
from handrail.settings import KafkaSettings, ProcessorSettings

log = logging.getLogger(__name__)

Batch = list[ConsumerRecord[bytes, bytes]]
Handler = Callable[[Batch], Awaitable["asyncio.Future[Any]"]]
"""Routes one batch: returns once its messages are sent, with a future that is done once
every send is acknowledged."""
IN_FLIGHT = 4
"""Batches routed whose sends may still be unacknowledged while the next is read."""


class Ingest(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        settings: ProcessorSettings,
        *,
        kafka: KafkaSettings,
        topic: str,
        handle: Handler,
        routed: Callable[[Batch], None],
        revoked: Callable[[set[int]], None],
    ) -> None:
        """``routed`` hears each batch once its sends are acknowledged, in the order read;
        ``revoked``, which partitions of ``topic`` this worker gave up."""
        self.topic = topic
        self._handle = handle
        self._on_routed = routed
        self._in_flight: deque[tuple[Batch, asyncio.Future[Any]]] = deque()
        self._revoked = revoked
        self._batch = settings.batch_max_events
        self._window = BatchWindow(settings.batch_max_events, settings.batch_max_s)
        self._commit_every = settings.commit_interval_s
        self._pending: list[ConsumerRecord[bytes, bytes]] = []
        """Fetched, not routed yet."""
        self._routed: dict[TopicPartition, int] = {}
        """Per partition, the offset to commit once routed (the next one to read)."""
        self._kafka = kafka
        self._options = {
            "bootstrap_servers": kafka.servers,
            "group_id": settings.ingest_group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": settings.batch_max_events,
            "session_timeout_ms": int(settings.session_timeout_s * 1000),
            "heartbeat_interval_ms": int(settings.session_timeout_s * 100),
        }
        self.consumer: AIOKafkaConsumer | None = None
        """Made in ``run``: an aiokafka client belongs to the event loop it starts in."""

    async def run(self) -> None:
        """Read, route and commit until cancelled (the worker stops)."""
        # The TLS context is made here, not kept: it holds the client key once loaded.
        self.consumer = consumer = AIOKafkaConsumer(
            **self._options, **aiokafka_options(self._kafka)
        )
        await consumer.start()
        consumer.subscribe([self.topic], listener=self)
        committed_at = time.monotonic()
        try:
            while True:
                wait = self._window.left(time.monotonic())  # fill the batch under way
                fetched = await consumer.getmany(
                    timeout_ms=int(wait * 1000), max_records=self._batch - len(self._pending)
                )
                now = time.monotonic()
                for messages in fetched.values():
                    self._pending.extend(messages)
                if self._window.due(len(self._pending), now):
                    self._window.taken()
                    await self._route()
                await self._settle(IN_FLIGHT if self._pending or fetched else 0)
                if self._routed and now - committed_at >= self._commit_every:
                    await self._commit()
                    committed_at = now
        finally:  # the worker stops: what was routed is committed, the rest re-read
            await asyncio.shield(self._settle(0))
            if self._routed:
                await asyncio.shield(self._commit())
            await asyncio.shield(consumer.stop())

    def partitions(self) -> set[TopicPartition]:
        """The events partitions this worker reads now."""
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    async def _route(self) -> None:
        batch, self._pending = self._pending, []
        self._in_flight.append((batch, await self._handle(batch)))

    async def _settle(self, keep: int) -> None:
        """Take the batches whose sends are acknowledged as routed, oldest first, waiting
        for the oldest until at most ``keep`` are in flight; raises a send's error."""
        while self._in_flight and (len(self._in_flight) > keep or self._in_flight[0][1].done()):
            batch, acked = self._in_flight[0]
            await acked
            self._in_flight.popleft()
            for m in batch:
                self._routed[TopicPartition(m.topic, m.partition)] = m.offset + 1
            self._on_routed(batch)

    async def _commit(self) -> None:
        """Commit what was routed (never what is only fetched)."""
        assert self.consumer is not None, "commits happen while it runs"
        offsets, self._routed = self._routed, {}
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # a rebalance under way: the next reader re-reads a little
            log.info("ingest: commit skipped (%s)", exc)

    # -- ConsumerRebalanceListener ---------------------------------------------------------

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Called inside ``getmany``: route what was fetched, then commit it, then let go.
        if self._pending:
            await self._route()
        await self._settle(0)
        if self._routed:
            await self._commit()
        self._revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("ingest: reading %s", sorted(tp.partition for tp in assigned))
