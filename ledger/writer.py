"""The ledger writer: rows of each stream (topic, partition) chained, checkpointed and
inserted in order, exactly once (I/O). The Kafka sink (``sink.py``) and the embedded
pipeline (``handrail.embedded``, each source a topic of its own, partition 0) both write
through it.

A stream resumes from the ledger's own highest offset, events and quarantine alike
(``resume``), with its chain head. Per batch (``submit``) each stream's rows are chained
(``chain.chain``), its new head is written to its checkpoint before the inserts that end
there, and the inserts (``batches.inserts``: every stream's runs of one table part
together) go to the ``Inserter`` thread, which runs them in order while the caller goes
on. ``write`` is ``submit`` and ``wait`` for callers that hold their batch's rows: when
ClickHouse refuses to decode a message, it writes again, from where the ledger has each
stream, what the ledger lacks, every message decoded in Python (``batches.build``
``careful``), so each bad message goes to quarantine with the reason and the good ones go in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handrail.ledger.batches import Item, Stream, build, inserts, runs
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.errors import IngestRefused
from handrail.ledger.inserter import Insert, Inserter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePoint:
    offset: int | None
    """The ledger's highest offset, events and quarantine alike (None: nothing yet)."""
    head: str
    """The chain head: the hash of the last chained row, event or quarantine row."""
    recent: list[tuple[str, int]]
    """The last event ids with their offsets, oldest first (as many as asked for)."""
    uncovered_until: int = -1
    """The highest offset of a quarantine row without hashes (written before migration
    0005), -1 for none: what the chain's checkpoint records (``Checkpoints.begin``)."""


def resume_point(client: Any, topic: str, partition: int, recent: int = 1) -> ResumePoint:
    """Where the ledger has a (topic, partition) up to: its last event rows, and its last
    quarantine row."""
    params = {"topic": topic, "partition": partition, "limit": max(1, recent)}
    where = "topic = {topic:String} AND partition = {partition:UInt32}"
    last = client.query(
        f"SELECT toString(event_id), offset, row_hash FROM events WHERE {where} "
        "ORDER BY offset DESC LIMIT {limit:UInt32}",
        parameters=params,
    ).result_rows
    count, top, chained, chained_top, head, uncovered = client.query(
        "SELECT count(), max(offset), countIf(row_hash != ''), maxIf(offset, row_hash != ''), "
        "argMaxIf(row_hash, offset, row_hash != ''), maxIf(offset, row_hash = '') "
        f"FROM quarantine WHERE {where}",
        parameters=params,
    ).result_rows[0]
    offsets = [last[0][1]] if last else []
    heads = [(last[0][1], last[0][2])] if last else []
    if count:
        offsets.append(top)
    if chained:
        heads.append((chained_top, head))
    return ResumePoint(
        offset=max(offsets) if offsets else None,
        head=max(heads)[1] if heads else GENESIS,
        recent=[(event_id, offset) for event_id, offset, _ in reversed(last[:recent])],
        uncovered_until=uncovered if count > chained else -1,
    )


class LedgerWriter:
    """Writes batches of rows, per stream, exactly once; ``done(insert)`` is called on the
    inserter's thread after each insert."""

    def __init__(
        self,
        client: Any,
        checkpoints: Checkpoints,
        done: Callable[[Insert], None] = lambda insert: None,
    ) -> None:
        self._client = client
        self._checkpoints = checkpoints
        self._heads: dict[Stream, str] = {}
        self.ingested: dict[Stream, int | None] = {}
        """Per stream: the highest offset in the ledger, as of ``resume`` and ``write``."""
        self._inserter = Inserter(client, done)

    def resume(self, stream: Stream, recent: int = 1) -> ResumePoint:
        """Where the ledger has a stream up to (with its ``recent`` last event ids); the
        stream's next rows chain on from there."""
        topic, partition = stream
        point = resume_point(self._client, topic, partition, recent)
        self._heads[stream], self.ingested[stream] = point.head, point.offset
        self._checkpoints.begin(topic, partition, point.uncovered_until)
        return point

    def forget(self, stream: Stream) -> None:
        self._heads.pop(stream, None)
        self.ingested.pop(stream, None)

    def submit(self, batch: dict[Stream, list[Item]]) -> int:
        """Chain and checkpoint each stream's rows (offset order, after what the ledger has)
        and queue their inserts; returns the event rows. Raises ``IngestRefused`` when an
        earlier insert was refused (then nothing of this batch is queued)."""
        by_stream, events = {}, 0
        for stream, items in batch.items():
            if not items:
                continue
            head = chain((row for _, row in items), self._heads.get(stream, GENESIS))
            self._heads[stream] = head
            self._checkpoints.write(*stream, items[-1][1]["offset"], head)
            events += sum(table != "quarantine" for table, _ in items)
            by_stream[stream] = runs(items)
        for table, rows, token in inserts(by_stream):
            self._inserter.submit(Insert.of(table, rows, token))
        return events

    def wait(self) -> None:
        """Return when every queued insert is in the ledger (``IngestRefused``: see
        ``Inserter``)."""
        self._inserter.wait()

    def write(self, batch: dict[Stream, list[Item]]) -> int:
        """``submit`` and ``wait``; a batch ClickHouse refuses is written again the careful
        way. Returns the event rows."""
        try:
            events = self.submit(batch)
            self.wait()
        except IngestRefused as refused:
            log.warning("ledger: %s; writing the batch again the careful way", refused)
            events = self.submit({s: self._careful(s, items) for s, items in batch.items()})
            self.wait()
        for stream, items in batch.items():
            if items:
                self.ingested[stream] = items[-1][1]["offset"]
        return events

    def _careful(self, stream: Stream, items: list[Item]) -> list[Item]:
        """What of ``items`` the ledger lacks, each message decoded in Python."""
        done = self.resume(stream).offset
        out: list[Item] = []
        for table, row in items:
            if done is not None and row["offset"] <= done:
                continue
            if table == "ingest":
                out += build(*stream, [(row["offset"], None, row["raw"])], careful=True)
            else:
                out.append((table, row))
        return out

    def close(self) -> None:
        self._inserter.close()
