"""The embedded pipeline's ledger writer: rows of several sources, chained, checkpointed
and inserted in order, exactly once (I/O).

The same rules as the Kafka sink (``ledger/sink.py``), with each source a topic of its own
(partition 0): rows come from ``ledger.batches.build`` (spool records encoded again, and
the pipeline's own encoded events), each source's rows are chained (events and quarantine
rows alike, ``ledger.chain``, after ``resume``), its chain head is checkpointed before the
insert that ends there, and a source resumes from the ledger's own
highest offset (``ledger.sink.resume_point``). A batch is one insert per table: the runs of
every source for the same table go together (``merged``), so each source's rows still land
in offset order, each run in one part.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import orjson

from handrail.embedded.source import Item, bounded
from handrail.ledger.batches import Item as Row
from handrail.ledger.batches import Message, build, inserts, runs
from handrail.ledger.chain import chain
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.errors import IngestRefused
from handrail.ledger.inserter import Insert, Inserter
from handrail.ledger.sink import resume_point
from handrail.schemas import encode

log = logging.getLogger(__name__)

PARTITION = 0
MAX_ERROR = 2_000
"""The most characters of a quarantine row's error kept (its raw bytes: ``RAW_MAX``)."""
Planned = tuple[str, list[dict[str, Any]], str]
"""One insert: ``(table, rows, deduplication token)``."""


def spool_rows(topic: str, items: list[Item]) -> list[Row]:
    """The ledger rows of items read from a spool source (no hashes yet): each record as
    the message the producer would have sent (``encode``), then as a Kafka message's."""
    rows: list[Row] = []
    for item in items:
        error = item.error
        if item.record is not None:
            try:
                rows += build(topic, PARTITION, [(item.offset, None, encode(item.record))])
                continue
            except Exception as exc:  # a decoded record that is not an event
                error = f"{type(exc).__name__}: {exc}"
                raw = orjson.dumps(item.record, default=str)
                item.raw, note = bounded(raw, len(raw))
                error += note
        error_type, _, message = error.partition(": ")
        if len(message) > MAX_ERROR:  # an exception's text may carry a whole value
            message = message[:MAX_ERROR] + f"... ({len(message)} characters)"
        rows.append(("quarantine", {
            "topic": topic, "partition": PARTITION, "offset": item.offset, "key_hex": "",
            "raw_hex": item.raw.hex(), "error_type": error_type, "error": message,
        }))  # fmt: skip
    return rows


def own_rows(topic: str, messages: list[Message]) -> list[Row]:
    """The ledger rows of the pipeline's own encoded events (offset, key, value)."""
    return build(topic, PARTITION, messages)


def merged(per_source: list[list[Planned]]) -> list[Planned]:
    """Each source's inserts (in its order) merged across sources: an insert takes the next
    insert of every source bound for the same table as the first source's next one."""
    queues = [deque(plan) for plan in per_source if plan]
    out: list[Planned] = []
    while queues:
        table = queues[0][0][0]
        rows: list[dict[str, Any]] = []
        tokens: list[str] = []
        for queue in queues:
            if queue[0][0] == table:
                _, part, token = queue.popleft()
                rows.extend(part)
                tokens.append(token)
        queues = [q for q in queues if q]
        out.append((table, rows, "|".join(tokens)))
    return out


class LedgerWriter:
    """Writes batches of rows, per source, exactly once; knows each source's position."""

    def __init__(self, client: Any, checkpoints: Checkpoints) -> None:
        self._client = client
        self._checkpoints = checkpoints
        self._heads: dict[str, str] = {}
        self.ingested: dict[str, int | None] = {}
        """Per source: the highest offset in the ledger (None: nothing yet)."""
        self._inserter = Inserter(client, lambda insert: None)

    def resume(self, topic: str) -> int | None:
        """Where the ledger has a source up to; remembers its chain head."""
        point = resume_point(self._client, topic, PARTITION)
        self._heads[topic], self.ingested[topic] = point.head, point.offset
        self._checkpoints.begin(topic, PARTITION, point.uncovered_until)
        return point.offset

    def forget(self, topic: str) -> None:
        self._heads.pop(topic, None)
        self.ingested.pop(topic, None)

    def write(self, batch: dict[str, list[Row]]) -> int:
        """Chain, checkpoint and insert the rows of each source (offset order, after what
        the ledger has); return when the ledger has them all. Returns the event rows.
        Should ClickHouse refuse to decode a message, the batch is written again from where
        the ledger has each source, every message decoded in Python (``careful``)."""
        try:
            return self._write(batch)
        except IngestRefused as refused:
            log.warning("ledger: %s; writing the batch again the careful way", refused)
            return self._write(
                {topic: self._careful(topic, items) for topic, items in batch.items()}
            )

    def _careful(self, topic: str, items: list[Row]) -> list[Row]:
        """What of ``items`` the ledger lacks, each message decoded in Python."""
        done = self.resume(topic)
        out: list[Row] = []
        for table, row in items:
            if done is not None and row["offset"] <= done:
                continue
            if table == "ingest":
                out += build(topic, PARTITION, [(row["offset"], None, row["raw"])], careful=True)
            else:
                out.append((table, row))
        return out

    def _write(self, batch: dict[str, list[Row]]) -> int:
        plans, events = [], 0
        for topic, items in batch.items():
            if not items:
                continue
            head = self._heads[topic] = chain((row for _, row in items), self._heads[topic])
            self._checkpoints.write(topic, PARTITION, items[-1][1]["offset"], head)
            events += sum(table != "quarantine" for table, _ in items)
            plans.append(inserts(topic, {PARTITION: runs(items)}))
        for table, rows, token in merged(plans):
            self._inserter.submit(Insert.of(table, rows, token))
        self._inserter.wait()
        for topic, items in batch.items():
            if items:
                self.ingested[topic] = items[-1][1]["offset"]
        return events

    def close(self) -> None:
        self._inserter.close()
