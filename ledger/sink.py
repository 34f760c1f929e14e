"""The sink: Kafka events topic -> ledger, exactly once, in batches bounded by count and time.

Each row keeps its topic, partition and offset. When partitions are assigned, the sink
resumes each from the ledger's own highest offset (events and quarantine alike), so a
crash never loses or repeats a row; an insert deduplication token per insert is the
second guard against a retried insert. A copy of an event among the partition's last
``ledger.duplicate_window`` events (the SDK resends what it cannot prove delivered) goes to
quarantine as ``DuplicateEvent``, so the ledger counts every event once. Rows are
inserted in offset order, in runs that each land in one table part, so "everything up to
the highest offset" stays true even when the sink dies between two inserts. Undecodable
messages go to ``quarantine`` with their raw bytes and the error; the sink goes on.

Per batch the sink builds the rows (events and quarantine rows) of each partition and
hands them to the ledger writer (``writer.py``: one chain per partition, its checkpoint
written before each insert, the inserts run in order on a thread of their own while the
sink goes on with the next batch, at most two inserts ahead; a rebalance and the end of
``run`` wait for them). It does not decode the events itself: ClickHouse does, from the
raw messages (``ingest_sql.py``). When ClickHouse refuses such an insert (a message in it
is not an event it can take), the inserter drops it and what followed, and the sink goes
back to the ledger's resume points and writes everything it had polled so far the careful
way, decoding each message in Python (``batches.build``), so that each bad message goes to
quarantine with the reason and the good ones go in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from handrail.batching import BatchWindow
from handrail.ledger.batches import Message, build
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.errors import IngestRefused
from handrail.ledger.inserter import Insert
from handrail.ledger.recent_ids import RecentIds
from handrail.ledger.writer import LedgerWriter
from handrail.settings import KafkaSettings, LedgerSettings

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    rows: int = 0
    quarantined: int = 0
    batches: int = 0


class Sink:
    def __init__(self, client: Any, kafka: KafkaSettings, ledger: LedgerSettings) -> None:
        self._client = client
        self._kafka = kafka
        self._ledger = ledger
        self._checkpoints = Checkpoints(ledger.checkpoint_path)
        self._recent: dict[int, RecentIds] = {}
        self._pending: list[Any] = []
        self._writer: LedgerWriter | None = None
        self._consumer: KafkaConsumer | None = None
        self._polled: dict[int, int] = {}
        """Per partition, the highest offset polled."""
        self._careful_until: dict[int, int] = {}
        """Per partition, up to which offset messages are decoded in Python."""
        self.stats = SinkStats()

    # -- positions ----------------------------------------------------------------------------

    def _assigned(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # resume points are read from the ledger: nothing may be in flight
        self._resume(consumer, partitions)

    def _resume(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        assert self._writer is not None, "partitions are assigned only while the sink runs"
        window, topic = self._ledger.duplicate_window, self._kafka.events_topic
        for tp in partitions:
            point = self._writer.resume((topic, tp.partition), window)
            self._recent[tp.partition] = RecentIds(window, point.recent)
            if point.offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, point.offset + 1)
            log.info("sink: partition %s resumes after offset %s", tp.partition, point.offset)

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self, stop: threading.Event | None = None, idle_exit_s: float | None = None
    ) -> SinkStats:
        """Consume until ``stop`` is set (or nothing arrived for ``idle_exit_s``)."""
        stop = stop or threading.Event()
        consumer = KafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            group_id=self._ledger.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._ledger.batch_max_events,
            **self._kafka.client_config,
        )
        sink = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
                sink.flush()

            def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
                sink._assigned(consumer, assigned)

        self._writer = LedgerWriter(self._client, self._checkpoints, self._inserted)
        self._consumer = consumer
        window = BatchWindow(self._ledger.batch_max_events, self._ledger.batch_max_seconds)
        last_seen = time.monotonic()
        try:
            consumer.subscribe([self._kafka.events_topic], listener=Listener())
            while not stop.is_set():
                polled = consumer.poll(timeout_ms=100, max_records=self._ledger.batch_max_events)
                now = time.monotonic()
                for tp, messages in polled.items():
                    self._pending.extend(messages)
                    self._polled[tp.partition] = messages[-1].offset
                    last_seen = now
                if window.due(len(self._pending), now):
                    window.taken()
                    try:
                        self._write_pending()
                    except IngestRefused as refused:
                        self._refused(refused)
                if idle_exit_s is not None and now - last_seen > idle_exit_s:
                    break
            self.flush()
        finally:
            consumer.close(autocommit=False)
            self._writer.close()
        return self.stats

    # -- writing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every pending message and wait until the ledger has it."""
        while True:
            try:
                self._write_pending()
                if self._writer is not None:
                    self._writer.wait()
                return
            except IngestRefused as refused:
                self._refused(refused)

    def _refused(self, refused: IngestRefused) -> None:
        """Go back to the ledger's resume points; decode what was polled so far in Python."""
        log.warning("sink: %s; writing offsets up to %s the careful way", refused, self._polled)
        self._pending = []
        self._careful_until.update(self._polled)
        assert self._consumer is not None, "inserts are refused only while the sink runs"
        self._resume(self._consumer, list(self._consumer.assignment()))

    def _write_pending(self) -> None:
        """Build the pending messages' rows and hand them to the writer (it chains and
        checkpoints them, and inserts them in order while the sink goes on)."""
        if not self._pending:
            return
        assert self._writer is not None, "rows are written only while the sink runs"
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for m in self._pending:
            by_partition[m.partition].append((m.offset, m.key, m.value))
        self._pending = []
        topic = self._kafka.events_topic
        batch = {}
        for partition, messages in by_partition.items():
            messages.sort(key=itemgetter(0))
            careful = messages[0][0] <= self._careful_until.get(partition, -1)
            recent = self._recent.get(partition)
            batch[(topic, partition)] = build(topic, partition, messages, recent, careful)
        self._writer.submit(batch)
        self.stats.batches += 1

    def _inserted(self, insert: Insert) -> None:
        """Called on the inserter's thread once an insert is in the ledger."""
        if insert.table != "quarantine":
            self.stats.rows += insert.rows
        else:
            self.stats.quarantined += insert.rows
