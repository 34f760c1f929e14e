"""Ledger rows and the hash chain, without a database."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from handrail.ledger.chain import GENESIS, chain, first_break
from handrail.ledger.rows import to_row
from handrail.schemas import EventRecord
from tests.support.samples import SAMPLE_FIELDS, event_record


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


def rows(n: int) -> list[dict[str, Any]]:
    out = [to_row(record("retry"), 2, "t", 0, offset) for offset in range(n)]
    chain(out, GENESIS)
    return out


def head(r: list[dict[str, Any]]) -> tuple[int, str]:
    return r[-1]["offset"], r[-1]["row_hash"]


def test_an_intact_chain_passes() -> None:
    r = rows(5)
    assert first_break(r, head(r)) is None
    assert first_break([], None) is None


@pytest.mark.parametrize(
    ("damage", "offset", "what"),
    [
        (lambda r: r[2].update(reason="nothing to see"), 2, "was edited"),
        (lambda r: r[2].update(cost_usd=7.0), 2, "was edited"),
        (lambda r: r.pop(2), 3, "deleted, or it was inserted"),
        (lambda r: r.insert(2, {**r[1], "offset": 1}), 1, "two rows at offset 1"),
        (lambda r: r.pop(), 4, "missing"),
        (lambda r: r.append({**r[-1], "offset": 99}), 99, "does not follow"),
    ],
    ids=["edit-text", "edit-cost", "delete", "duplicate", "delete-tail", "append"],
)
def test_damage_is_named(damage: Any, offset: int, what: str) -> None:
    r = rows(5)
    checkpoint = head(r)
    damaged = copy.deepcopy(r)
    damage(damaged)
    found = first_break(damaged, checkpoint)
    assert found is not None
    assert found[0] == offset
    assert what in found[1]


def test_a_valid_looking_append_after_the_checkpoint_is_caught() -> None:
    r = rows(5)
    checkpoint = head(r)
    extra = to_row(record("retry"), 2, "t", 0, 5)
    chain([extra], r[-1]["row_hash"])  # whoever appends knows the algorithm
    found = first_break([*r, extra], checkpoint)
    assert found == (5, "rows after the last checkpoint (offset 4) were inserted")


def test_rows_without_a_checkpoint_are_unanchored() -> None:
    assert first_break(rows(2), None) == (1, "rows exist but no checkpoint anchors them")
