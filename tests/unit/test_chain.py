"""The hash chain over events and quarantine rows, every broken link named once (an edit of
``event_json``'s text too, byte for byte), and the digest (pure: rows built in Python, no
database)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import (
    GENESIS,
    RENDERED,
    Break,
    Walk,
    breaks,
    chain,
    fast_path_input,
    hash_of,
    to_render,
)
from handrail.ledger.digest import ChainHead, Digest, DigestError, extends
from handrail.ledger.rows import to_row, typed_columns
from handrail.schemas import decode, encode, registry
from handrail.schemas.wire import HEADER_SIZE
from handrail.settings import LedgerSettings
from tests.support.samples import event_record

Rows = list[dict[str, Any]]


def ledger_rows(offsets: list[int], junk: Collection[int] = ()) -> Rows:
    """Chained rows of one chain as the writers build them: an event per offset, a
    quarantine row at the ``junk`` offsets."""
    messages = [
        (o, b"key-%d" % o, b"junk %d" % o if o in junk else encode(event_record("retry")))
        for o in offsets
    ]
    rows = [row for _, row in build("t", 0, messages, careful=True)]
    for row in rows:
        row.pop("raw", None)  # as the ledger returns them: the message only as raw_hex
    chain(rows, GENESIS)
    return rows


def head(rows: Rows) -> tuple[int, str]:
    return rows[-1]["offset"], rows[-1]["row_hash"]


def found(rows: Rows, checkpoint: tuple[int, str] | None, until: int | None = -1) -> list[Break]:
    return list(breaks(rows, checkpoint, until))


def rehash(rows: Rows, start: int) -> None:
    """What a forger who knows the algorithm does after an edit: rows[start:] hashed again."""
    chain(rows[start:], rows[start - 1]["row_hash"])


def test_an_intact_chain_of_events_and_quarantine_rows_passes() -> None:
    rows = ledger_rows(list(range(10)), junk={3, 4, 9})
    assert [("error_type" in r) for r in rows].count(True) == 3
    assert found(rows, head(rows)) == []
    walk = Walk(head(rows))
    for row in rows:
        assert walk.step(row) == []
    assert (walk.end(), walk.rows, walk.last) == ([], 10, head(rows))


def test_two_tamperings_in_one_chain_are_both_named() -> None:
    rows = ledger_rows(list(range(20)), junk={12})
    checkpoint = head(rows)
    rows[3]["reason"] = "nothing to see"  # an edit
    del rows[11]  # a deletion
    rows[11]["error"] = "fine"  # the quarantine row (now at index 11) edited
    result = found(rows, checkpoint)
    assert [b.offset for b in result] == [3, 12]
    assert "was edited: reason differs" in result[0].what
    assert "does not follow the previous row" in result[1].what
    assert "its hash does not match" in result[1].what  # both of the row's problems


def _insert_between(rows: Rows) -> None:
    """A forged row at a free offset (3) between two rows, its hashes copied."""
    rows.insert(2, {**rows[1], "offset": 3})


def _insert_chained(rows: Rows) -> None:
    """A forged row at a free offset, correctly chained after the row before it."""
    forged = {**rows[1], "offset": 3}
    chain([forged], rows[1]["row_hash"])
    rows.insert(2, forged)


def _insert_chained_last(rows: Rows) -> None:
    """A forged row between the last two, correctly chained: the checkpoint judges."""
    forged = {**rows[-2], "offset": 17}
    chain([forged], rows[-2]["row_hash"])
    rows.insert(-1, forged)


def _edit_and_rehash_one(rows: Rows) -> None:
    rows[2]["error"] = "nothing wrong"  # a quarantine row
    chain([rows[2]], rows[2]["prev_hash"])


def _replace_at_offset(rows: Rows) -> None:
    """A second, different row at offset 4, correctly chained: which one belongs?"""
    forged = {**rows[2], "reason": "forged"}
    rows.insert(3, forged)


ONE_EACH: list[tuple[Callable[[Rows], Any], int, str]] = [
    (lambda r: r[1].update(reason="x"), 2, "was edited: reason differs"),
    (lambda r: r[1].update(raw_hex=r[0]["raw_hex"]), 2, "its hash does not match"),
    (lambda r: r[1].update(raw_hex="not hex"), 2, "its hash does not match"),
    (lambda r: r[2].update(raw_hex=b"other".hex()), 4, "quarantine row was edited"),
    (lambda r: r[2].update(key_hex=""), 4, "quarantine row was edited"),
    (lambda r: r[2].update(error_type="ValueError"), 4, "quarantine row was edited"),
    (lambda r: r[2].update(offset=5), 5, "quarantine row was edited"),
    (_edit_and_rehash_one, 6, "does not follow the previous row"),
    (lambda r: r.pop(2), 6, "a row before it was deleted"),
    (_insert_between, 3, "follows the same row as the row at offset 2"),
    (_insert_chained, 3, "the row at offset 3 was inserted"),
    (_insert_chained_last, 17, "the row at offset 17 was inserted"),
    (lambda r: r.insert(3, dict(r[2])), 4, "two rows at offset 4"),
    (_replace_at_offset, 4, "two rows at offset 4"),
    (lambda r: r.insert(3, {**r[2], "prev_hash": "", "row_hash": ""}), 4, "without a hash"),
    (lambda r: r.insert(3, {**r[2], "offset": 5, "prev_hash": "", "row_hash": ""}), 5,
     "quarantine row without a hash"),
    (lambda r: r.pop(), 18, "is missing: rows were deleted"),
    (lambda r: r.append({**r[-1], "offset": 99}), 99, "after the last checkpoint"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "offset", "what"), ONE_EACH)
def test_each_tampering_is_named_once(
    damage: Callable[[Rows], Any], offset: int, what: str
) -> None:
    rows = ledger_rows([0, 2, 4, 6, 8, 10, 12, 14, 16, 18], junk={4, 10})
    checkpoint = head(rows)
    damaged = copy.deepcopy(rows)
    damage(damaged)
    [only] = found(damaged, checkpoint)
    assert only.offset == offset
    assert what in only.what


def test_after_a_break_the_walk_goes_on_from_the_rows_own_hash() -> None:
    """Every later break is found on its own: a break at each of many places."""
    rows = ledger_rows(list(range(100)), junk={50, 51})
    checkpoint = head(rows)
    for i in range(5, 100, 10):
        rows[i]["agent"] = "someone else"
    result = found(rows, checkpoint)
    assert [b.offset for b in result] == list(range(5, 100, 10))


def test_rows_rewritten_with_their_checkpoint_pass_plain_verify() -> None:
    """What the checkpoints cannot show, and the digest does (tests/integration)."""
    rows = ledger_rows(list(range(10)), junk={6})
    [forged] = ledger_rows([2])  # another event in row 2's place, consistent in itself
    rows[2] = forged
    rehash(rows, 2)
    del rows[8:]  # and the last rows dropped
    assert found(rows, head(rows)) == []  # with the checkpoint moved to the new head


def _legacy(offset: int) -> dict[str, Any]:
    return {"topic": "t", "partition": 0, "offset": offset, "key_hex": "", "raw_hex": "00",
            "error_type": "E", "error": "", "prev_hash": "", "row_hash": ""}  # fmt: skip


def test_quarantine_rows_written_before_they_were_chained() -> None:
    """Migration 0005: quarantine rows of a ledger written before it have no hashes and the
    events' chain passes over them; verify lets them pass where the checkpoint allows."""
    rows = ledger_rows([0, 2, 4, 6, 8, 10])
    rows[2:2] = [_legacy(3)]
    rows[6:6] = [_legacy(9)]
    assert [r["offset"] for r in rows] == [0, 2, 3, 4, 6, 8, 9, 10]
    walk = Walk(head(rows), None)  # a checkpoint written before 0005: no bound
    assert [b for r in rows for b in walk.step(r)] + walk.end() == []
    assert (walk.uncovered, walk.uncovered_last, walk.rows) == (2, 9, 6)
    [late] = found(rows, head(rows), until=3)  # bounded by the checkpoint
    assert (late.offset, "without a hash" in late.what) == (9, True)
    assert len(found(rows, head(rows), until=-1)) == 2  # a chain of this version: none


def test_an_unhashed_quarantine_row_after_chained_ones_is_named() -> None:
    rows = ledger_rows(list(range(6)), junk={2})
    rows = [r for r in rows if r["offset"] != 4]
    chain(rows[3:], rows[2]["row_hash"])
    rows[3:3] = [_legacy(4)]
    [only] = found(rows, head(rows), until=None)
    assert (only.offset, "without a hash" in only.what) == (4, True)


def test_the_row_hashes_follow_the_documented_layout() -> None:
    """Recomputed with hashlib alone, as ``chain.py``'s docstring states them."""
    rows = ledger_rows(list(range(4)), junk={1, 2})
    prev = bytes(32)
    for row in rows:
        position = f"{row['topic']}/{row['partition']}/{row['offset']}".encode()
        raw = bytes.fromhex(row["raw_hex"])
        if "error_type" in row:

            def f(b: bytes) -> bytes:
                return len(b).to_bytes(8, "big") + b

            data = (prev + f(bytes.fromhex(row["key_hex"])) + f(raw)
                    + f(row["error_type"].encode()) + f(row["error"].encode()) + f(position)
                    + b"\x00handrail quarantine row")  # fmt: skip
        else:
            data = prev + raw + b"\n" + str(row["schema_version"]).encode() + b"\n" + position
        assert row["prev_hash"] == prev.hex()
        assert row["row_hash"] == hashlib.sha256(data).hexdigest()
        prev = bytes.fromhex(row["row_hash"])


def test_a_quarantine_row_never_hashes_as_an_event_row() -> None:
    """The same bytes at the same position as an event row and as a quarantine row: the
    inputs differ (one ends in the offset's last digit, the other in the tag)."""
    [event] = ledger_rows([7])
    quarantined = {**event, "key_hex": "", "error_type": "", "error": ""}
    assert hash_of(GENESIS, quarantined) != hash_of(GENESIS, event)


@pytest.mark.parametrize("usd", [math.nan, math.inf, -math.inf])
def test_a_non_finite_cost_is_null_in_json_and_zero_as_cost(usd: float) -> None:
    message = encode(event_record("spend", usd=usd))
    row = to_row(decode(message, logical=False)[1], 2, "t", 0, 0)
    event = json.loads(row["event_json"])
    assert event["payload"]["usd"] is None
    assert row["cost_usd"] == 0.0
    assert typed_columns(event)["cost_usd"] == 0.0  # what verify recomputes from the JSON
    rows = [r for _, r in build("t", 0, [(0, b"k", message)], careful=True)]
    chain(rows, GENESIS)
    assert found(rows, head(rows)) == []


# -- event_json, byte for byte ----------------------------------------------------------------

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
    messages = [(o, b"k", encode(event_record("approval_granted", sequence=o))) for o in range(n)]
    rows = [row for _, row in build("t", 0, messages, careful=True)]
    for row in rows:
        row.pop("raw", None)
    chain(rows, GENESIS)
    return rows


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


# -- the digest ------------------------------------------------------------------------------

HEADS = (
    ChainHead("handrail.events", 1, 41, "ab" * 32, 42),
    ChainHead("handrail.events", 0, 9, "cd" * 32, 10, 3),
)


def test_a_digest_round_trips_and_checks_itself() -> None:
    digest = Digest("2026-03-02T10:00:00Z", HEADS)
    text = digest.to_json()
    again = Digest.from_json(text)
    assert sorted(again.chains) == sorted(HEADS)
    data = json.loads(text)
    body = {k: v for k, v in data.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert data["sha256"] == hashlib.sha256(canonical).hexdigest() == digest.sha256


@pytest.mark.parametrize(
    "alter",
    [
        lambda d: d["chains"][0].update(row_hash="ee" * 32),
        lambda d: d["chains"].pop(),
        lambda d: d.update(format="something/2"),
        lambda d: d.pop("sha256"),
        lambda d: d["chains"][0].update(extra=1),
    ],
)
def test_an_altered_digest_file_is_refused(alter: Callable[[dict[str, Any]], Any]) -> None:
    data = json.loads(Digest("2026-03-02T10:00:00Z", HEADS).to_json())
    alter(data)
    with pytest.raises(DigestError):
        Digest.from_json(json.dumps(data))
    with pytest.raises(DigestError):
        Digest.from_json("[]")


def test_extends() -> None:
    h = HEADS[0]
    assert extends(h, {h.row_hash}, h.rows) is None
    assert "not in the ledger" in str(extends(h, set(), None))
    assert "is missing" in str(extends(h, set(), 3))
    assert "rewritten" in str(extends(h, {"00" * 32}, h.rows))
    assert "chained rows" in str(extends(h, {h.row_hash}, h.rows - 1))


# -- where the checkpoints are ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "directory", "expected"),
    [
        ("chdb://.handrail/ledger", None, ".handrail/checkpoints"),
        ("chdb://.handrail/demo/ledger", None, ".handrail/demo/checkpoints"),
        ("chdb:///var/lib/handrail/ledger/", None, "/var/lib/handrail/checkpoints"),
        ("http://u:p@host:8123/db", None, ".handrail/checkpoints"),
        ("chdb://.handrail/ledger", "/elsewhere", "/elsewhere"),
    ],
)
def test_the_ledger_knows_where_its_checkpoints_are(
    dsn: str, directory: str | None, expected: str
) -> None:
    settings = LedgerSettings(dsn=dsn, checkpoint_dir=directory)
    assert settings.checkpoint_path == Path(expected)


def test_breaks_is_lazy() -> None:
    """Rows are checked as they come: a chain is never held whole."""
    rows = ledger_rows(list(range(3)))
    seen = []

    def stream() -> Iterator[dict[str, Any]]:
        for row in rows:
            seen.append(row["offset"])
            yield row

    checks = breaks(stream(), None)
    assert seen == []
    assert next(checks).what == "rows exist but no checkpoint anchors them"
    assert seen == [0, 1, 2]
