"""``event_json`` byte for byte: an edit of its text is named even when its value stays, a
row is held against the rendering ``verify`` had made for it, and only messages the fast
path takes are rendered by ClickHouse (pure: rows built in Python, no database)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from handrail.ledger.chain import GENESIS, RENDERED, fast_path_input, to_render
from handrail.schemas import decode, encode, registry
from handrail.schemas.wire import HEADER_SIZE
from tests.support.chain_rows import Rows, chained, found, head
from tests.support.samples import event_record

TEXT_EDITS: dict[str, Callable[[str], str]] = {
    "duplicate-key": lambda t: t.replace(
        '"payload":{', '"payload":{"approver":"mallory@evil","reason":"forged",', 1
    ),
    "escape": lambda t: t.replace('"alice"', '"\\u0061lice"', 1),
    "whitespace": lambda t: t.replace('"sequence":', '"sequence": ', 1),
    "number": lambda t: re.sub(r'"sequence":(\d+)', r'"sequence":\1e0', t, count=1),
}
"""Edits of an ``event_json``'s text that keep its value as Python parses it."""


def approvals(n: int = 3) -> Rows:
    """Chained ``approval_granted`` rows, written the careful way (Python's text)."""
    return chained(
        [(o, b"k", encode(event_record("approval_granted", sequence=o))) for o in range(n)]
    )


@pytest.mark.parametrize("edit", list(TEXT_EDITS))
def test_an_edit_of_event_jsons_text_is_named_even_when_its_value_stays(edit: str) -> None:
    rows = approvals()
    before = rows[1]["event_json"]
    rows[1]["event_json"] = TEXT_EDITS[edit](before)
    assert rows[1]["event_json"] != before
    assert json.loads(rows[1]["event_json"]) == json.loads(before)
    [only] = found(rows, head(rows))
    assert (only.offset, only.what) == (1, f"row {rows[1]['event_id']} was edited: "
                                           "event_json differs from its event")  # fmt: skip


def test_a_row_is_held_against_the_rendering_verify_made_for_it() -> None:
    """A text other than Python's (as ClickHouse writes one: ``/`` escaped, keys in another
    order) passes only as the ``RENDERED`` text that ``verify`` had ClickHouse make of the
    row's message; edited, it is named again."""
    rows = approvals()
    other = json.dumps(json.loads(rows[1]["event_json"]), separators=(",", ":"))
    other = other.replace('"payload":{', '"payload":{"type":"approval_granted",', 1)
    assert other != rows[1]["event_json"]
    rows[1]["event_json"] = other
    assert [b.offset for b in found(rows, head(rows))] == [1]
    rows[1][RENDERED] = other
    assert found(rows, head(rows)) == []
    for edit in TEXT_EDITS.values():
        rows[1]["event_json"] = edit(other)
        assert [b.offset for b in found(rows, head(rows))] == [1]


def test_verify_has_clickhouse_render_only_what_python_did_not_write() -> None:
    """``to_render``: Python's text needs no more (kept as the row's ``RENDERED``); a text
    shaped as ClickHouse writes it, or any other text, is rendered by ClickHouse: its
    message's ingest row, without the raw message and with placeholder hashes."""
    [row] = approvals(1)
    assert (to_render(row), row[RENDERED]) == (None, row["event_json"])
    raw = bytes.fromhex(row["raw_hex"])
    expected = {
        "topic": "t", "partition": 0, "offset": 0, "schema_version": registry().current.version,
        "prev_hash": GENESIS,
        "row_hash": GENESIS, "raw": b"", "body": raw[HEADER_SIZE:],
    }  # fmt: skip
    edited = {**row, "event_json": TEXT_EDITS["whitespace"](row["event_json"])}
    del edited[RENDERED]
    assert to_render(edited) == expected
    assert edited[RENDERED] == row["event_json"]  # Python's, made first
    shaped = {**edited, "event_json": '{"agent":{},"payload":{"type":"approval_granted"}}'}
    del shaped[RENDERED]
    assert to_render(shaped) == expected
    assert RENDERED not in shaped  # Python's is not made for it


@pytest.mark.parametrize(
    "change",
    [
        lambda r: encode(r, registry().versions[0]),  # a version the fast path never took
        lambda r: encode({**r, "event_id": r["event_id"].upper()}),  # not canonical
        lambda r: encode({**r, "time": datetime(1969, 12, 31, tzinfo=UTC)}),  # before 1970
    ],
    ids=["v1", "upper-case-id", "before-1970"],
)
def test_only_a_message_the_fast_path_takes_is_rendered_by_clickhouse(
    change: Callable[[dict[str, Any]], bytes],
) -> None:
    record = event_record("approval_granted")
    row = {"topic": "t", "partition": 0, "offset": 0, "schema_version": registry().current.version}
    assert fast_path_input({**row, "raw_hex": encode(record).hex()}) is not None
    message = change(record)
    version = decode(message)[0].version
    assert fast_path_input({**row, "schema_version": version, "raw_hex": message.hex()}) is None
