"""The hash chain over events and quarantine rows: an intact chain passes, every broken link
is named once, the row hashes follow their documented layout, and the chain is checked as it
streams (pure: rows built in Python, no database)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, Walk, breaks, chain, hash_of
from handrail.ledger.rows import to_row, typed_columns
from handrail.schemas import decode, encode
from tests.support.chain_rows import Rows, found, head, ledger_rows
from tests.support.samples import event_record


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
    """What the checkpoints cannot show, and the digest does
    (tests/integration/test_ledger_verify_digest.py)."""
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
