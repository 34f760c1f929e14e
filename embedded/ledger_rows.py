"""The embedded pipeline's ledger rows: each source is a stream of its own (its topic,
partition 0) that the ledger writer (``handrail.ledger.writer``, shared with the Kafka
sink) chains, checkpoints and inserts. Rows come from ``ledger.batches.build``: spool
records as the messages the producer would have sent (their bytes as the spool block held
them, or encoded again where the block was written with an older schema), and the
pipeline's own encoded events."""

from __future__ import annotations

import logging

import orjson

from handrail.ledger.batches import Item as Row
from handrail.ledger.batches import Message, build
from handrail.producers.spool.cursor import Item, bounded
from handrail.schemas import encode

log = logging.getLogger(__name__)

PARTITION = 0
MAX_ERROR = 2_000
"""The most characters of a quarantine row's error kept (its raw bytes: ``RAW_MAX``)."""


def spool_rows(topic: str, items: list[Item]) -> list[Row]:
    """The ledger rows of items read from a spool source (no hashes yet): each record as
    the message the producer would have sent, then as a Kafka message's."""
    rows: list[Row] = []
    for item in items:
        error = item.error
        if item.record is not None:
            try:
                value = item.message or encode(item.record)
                rows += build(topic, PARTITION, [(item.offset, None, value)])
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
