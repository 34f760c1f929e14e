"""Ledger rows, the hash chain and the sink's batches, without a database."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from handrail.ledger.batches import build, inserts, runs
from handrail.ledger.chain import GENESIS, breaks, chain
from handrail.ledger.rows import to_row
from handrail.schemas import EventRecord, decode, encode, registry
from tests.support.samples import SAMPLE_FIELDS, event_record, sample_payloads


def record(kind: str, agent: str = "analyst") -> EventRecord:
    return event_record(kind, agent=agent)


def test_typed_columns() -> None:
    decision = to_row(record("decision_made"), 2, "t", 0, 5)
    assert decision["action"] == "db.customers.write"
    assert decision["checks_passed"] == ["has_customer_id"]
    assert decision["checks_failed"] == ["pii"]
    assert decision["reason"] == "summary passed validation"
    offered = to_row(record("handoff_offered", agent="summarizer"), 2, "t", 0, 6)
    assert (offered["handoff_from"], offered["handoff_to"]) == ("summarizer", "analyst")
    rejected = to_row(record("handoff_rejected"), 2, "t", 0, 7)
    assert (rejected["handoff_from"], rejected["handoff_to"]) == ("summarizer", "analyst")
    assert to_row(record("spend"), 2, "t", 0, 8)["cost_usd"] == SAMPLE_FIELDS["spend"]["usd"]
    assert to_row(record("approval_granted"), 2, "t", 0, 9)["approval_state"] == "granted"
    assert to_row(record("policy_verdict"), 2, "t", 0, 10)["effect"] == "needs_approval"


@pytest.mark.parametrize("kind", sorted(sample_payloads()))
def test_the_sinks_plain_read_gives_the_same_row(kind: str) -> None:
    """The sink decodes without logical types (``event_id`` a str, ``time`` int micros):
    its row is the row of the fully decoded event, typed columns and JSON alike."""
    message = encode(record(kind))
    plain, full = decode(message, logical=False)[1], decode(message)[1]
    assert isinstance(plain["time"], int)
    assert to_row(plain, 2, "t", 0, 1) == to_row(full, 2, "t", 0, 1)


def test_event_ids_are_stored_canonical() -> None:
    event = record("retry")
    canonical = event["event_id"]
    event["event_id"] = canonical.upper().replace("-", "")
    row = to_row(event, 2, "t", 0, 1)
    assert row["event_id"] == canonical
    assert f'"event_id":"{canonical}"' in row["event_json"]


@pytest.mark.parametrize(("field", "value"), [("event_id", "not-a-uuid"), ("sequence", -1)])
def test_a_value_the_ledger_cannot_hold_is_quarantined(field: str, value: object) -> None:
    message = encode({**record("retry"), field: value})
    items = build("t", 0, [(3, b"k", message)], careful=True)
    assert [(table, row["error_type"]) for table, row in items] == [("quarantine", "ValueError")]


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Chained rows built in Python (the careful way), each with its message."""
    messages = [(offset, b"k", encode(record("retry"))) for offset in range(start, start + n)]
    out = [row for _, row in build("t", 0, messages, careful=True)]
    chain(out, GENESIS)
    return out


def head(r: list[dict[str, Any]]) -> tuple[int, str]:
    return r[-1]["offset"], r[-1]["row_hash"]


def test_an_intact_chain_passes() -> None:
    r = rows(5)
    assert next(breaks(r, head(r)), None) is None
    assert next(breaks([], None), None) is None


@pytest.mark.parametrize(
    ("damage", "offset", "what"),
    [
        (lambda r: r[2].update(reason="nothing to see"), 2, "was edited"),
        (lambda r: r[2].update(cost_usd=7.0), 2, "was edited: cost_usd differs"),
        (lambda r: r[2].update(agent="someone"), 2, "was edited: agent differs"),
        (lambda r: r[2].update(checks_failed=["x"]), 2, "was edited: checks_failed"),
        (lambda r: r[2].update(time=r[2]["time"].replace(year=2020)), 2, "edited: time"),
        (lambda r: r[2].update(event_json=r[2]["event_json"].replace("2", "3")), 2, "json"),
        (lambda r: r[2].update(raw_hex=r[0]["raw_hex"]), 2, "its hash does not match"),
        (lambda r: r[2].update(schema_version=1), 2, "its hash does not match"),
        (lambda r: r.pop(2), 3, "a row before it was deleted"),
        (lambda r: r.insert(2, {**r[1], "offset": 1}), 1, "two rows at offset 1"),
        (lambda r: r.pop(), 4, "missing"),
        (lambda r: r.append({**r[-1], "offset": 99}), 99, "after the last checkpoint"),
    ],
    ids=[
        "edit-text",
        "edit-cost",
        "edit-agent",
        "edit-checks",
        "edit-time",
        "edit-json",
        "edit-raw",
        "edit-version",
        "delete",
        "duplicate",
        "delete-tail",
        "append",
    ],
)
def test_damage_is_named(damage: Any, offset: int, what: str) -> None:
    r = rows(5)
    checkpoint = head(r)
    damaged = copy.deepcopy(r)
    damage(damaged)
    found = next(breaks(damaged, checkpoint), None)
    assert found is not None
    assert found[0] == offset
    assert what in found[1]


def test_a_valid_looking_append_after_the_checkpoint_is_caught() -> None:
    r = rows(5)
    checkpoint = head(r)
    [extra] = rows(1, start=5)
    chain([extra], r[-1]["row_hash"])  # whoever appends knows the algorithm
    found = next(breaks([*r, extra], checkpoint), None)
    assert found == (5, "rows after the last checkpoint (offset 4) were inserted: 1 (offsets 5..5)")


def test_rows_without_a_checkpoint_are_unanchored() -> None:
    assert next(breaks(rows(2), None), None) == (1, "rows exist but no checkpoint anchors them")


def test_undecodable_messages_become_quarantine_rows() -> None:
    event = record("retry")
    good = encode(event)
    old = encode(record("retry"), registry().versions[0])
    messages = [(7, b"k", good), (8, b"k", b"junk"), (9, None, None), (10, b"k", old)]
    items = build("t", 2, messages)
    assert [table for table, _ in items] == ["ingest", "quarantine", "quarantine", "events"]
    fast = items[0][1]
    assert (fast["offset"], fast["raw"], fast["body"]) == (7, good, good[10:])
    assert fast["event_id"] == event["event_id"]
    assert items[1][1]["raw_hex"] == b"junk".hex()
    assert items[1][1]["error_type"] == "BadHeaderError"
    assert items[3][1]["schema_version"] == 1  # an older version is decoded in Python


def test_careful_mode_decodes_every_message() -> None:
    good = encode(record("retry"))
    [(table, row)] = build("t", 2, [(7, b"k", good)], careful=True)
    assert (table, row["raw_hex"], row["type"]) == ("events", good.hex(), "retry")


def test_one_insert_per_batch_across_partitions() -> None:
    batch = {("t", p): runs([("events", row) for row in rows(3)]) for p in (0, 1)}
    [(table, inserted, token)] = inserts(batch)
    assert (table, len(inserted), token) == ("events", 6, "t:0:0-2,t:1:0-2")


def test_inserts_keep_each_partition_in_offset_order() -> None:
    a, b, c = rows(3)
    c["time"] = c["time"].replace(month=c["time"].month % 12 + 1)  # the next month
    quarantined = {"offset": 9}
    batch = {
        ("t", 0): runs([("events", a), ("quarantine", quarantined), ("events", b)]),
        ("t", 1): runs([("events", a), ("events", c)]),
    }
    found = [(table, token) for table, _, token in inserts(batch)]
    assert found == [
        ("events", "t:0:0-0,t:1:0-0"),
        ("quarantine", "t:0:9-9"),
        ("events", "t:0:1-1"),
        ("events", "t:1:2-2"),
    ]


def test_an_older_versions_event_is_kept_as_its_writer_wrote_it() -> None:
    """``event_json`` holds the writer's shape (v1 had no labels), so a later schema version
    never makes ``verify`` see an edit where there is none."""
    old = encode(record("retry"), registry().versions[0])
    r = [row for _, row in build("t", 0, [(0, b"k", old)], careful=True)]
    chain(r, GENESIS)
    assert "labels" not in orjson.loads(r[0]["event_json"])
    assert next(breaks(r, head(r)), None) is None
