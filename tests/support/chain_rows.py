"""Rows of one hash chain (topic ``t``, partition 0) built in Python as the writers build
them and the ledger returns them, and the breaks ``verify`` finds in them (no database)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, Break, breaks, chain
from handrail.schemas import encode
from tests.support.samples import event_record

Rows = list[dict[str, Any]]
Message = tuple[int, bytes | None, bytes | None]
"""A message as the writers take it: offset, key, value."""


def chained(messages: list[Message]) -> Rows:
    """The rows of ``messages`` (offset, key, message), built the careful way and chained."""
    rows = [row for _, row in build("t", 0, messages, careful=True)]
    for row in rows:
        row.pop("raw", None)  # as the ledger returns them: the message only as raw_hex
    chain(rows, GENESIS)
    return rows


def ledger_rows(offsets: list[int], junk: Collection[int] = ()) -> Rows:
    """Chained rows of one chain as the writers build them: an event per offset, a
    quarantine row at the ``junk`` offsets."""
    messages: list[Message] = [
        (o, b"key-%d" % o, b"junk %d" % o if o in junk else encode(event_record("retry")))
        for o in offsets
    ]
    return chained(messages)


def head(rows: Rows) -> tuple[int, str]:
    return rows[-1]["offset"], rows[-1]["row_hash"]


def found(rows: Rows, checkpoint: tuple[int, str] | None, until: int | None = -1) -> list[Break]:
    return list(breaks(rows, checkpoint, until))
