"""Rows into a test ledger as the sink inserts them: its runs, one partition's or several."""

from __future__ import annotations

from typing import Any

from handrail.ledger.batches import Item, inserts, runs
from handrail.ledger.inserter import Insert, Inserter


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
