"""Rows into a test ledger as the sink inserts them: its runs, one partition's or several."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handrail.ledger.batches import Item, build, inserts, runs
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.inserter import Insert, Inserter
from handrail.schemas import EventRecord, encode

TOPIC = "handrail.events"


def insert(client: Any, topic: str, items: dict[int, list[Item]]) -> None:
    """Insert each partition's rows (chained already) in the sink's runs, and wait."""
    inserter = Inserter(client, lambda insert: None)
    try:
        per_stream = {(topic, partition): runs(rows) for partition, rows in items.items()}
        for table, rows, token in inserts(per_stream):
            inserter.submit(Insert.of(table, rows, token))
        inserter.wait()
    finally:
        inserter.close()


def insert_records(client: Any, records: Sequence[EventRecord], topic: str = TOPIC) -> None:
    """``records``, in this order, as the messages of one partition, written as the sink
    writes them (ClickHouse decodes them)."""
    items = build(topic, 0, [(offset, b"k", encode(r)) for offset, r in enumerate(records)])
    chain([row for _, row in items], GENESIS)
    insert(client, topic, {0: items})
