"""The pydantic-free check of the common record call gives exactly what pydantic gives,
for every event type and for lists of plain strings and records, and leaves every other
call to pydantic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from pydantic import TypeAdapter

from handrail.producers.exact_fields import EMPTY, exact
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.schemas.models import Check

PLAIN = {str: "text", int: 7, float: 1.5, bool: True}


def sample(hint: Any, optional_as_none: bool) -> Any:
    """A value of exactly the field's type (None for optional ones when asked, and for
    optional datetimes)."""
    args = get_args(hint)
    if get_origin(hint) is Literal:
        return args[-1]
    if get_origin(hint) is list:
        return ()
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if optional_as_none or inner not in PLAIN else PLAIN[inner]
    return PLAIN[hint]


def pydantic(tag: str, values: dict[str, Any]) -> dict[str, Any]:
    return TypeAdapter(PAYLOAD_FIELDS[tag]).validate_python(dict(values))


@pytest.mark.parametrize("optional_as_none", [True, False])
@pytest.mark.parametrize("tag", sorted(PAYLOAD_FIELDS))
def test_plain_values_of_every_event_type_skip_pydantic_and_match_it(
    tag: str, optional_as_none: bool
) -> None:
    hints = get_type_hints(PAYLOAD_FIELDS[tag])
    values = {name: sample(hint, optional_as_none) for name, hint in hints.items()}
    fields = exact(tag)(dict(values))
    assert fields == pydantic(tag, values)
    assert fields is not None
    for name, hint in hints.items():
        if get_origin(hint) is list:
            assert fields[name] is EMPTY


BASE = {"action": "api.charge", "effect": "allow", "rule": "r", "reason": "why",
        "resource": None, "mode": "enforce", "cost_usd": None, "attempt": None}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"cost_usd": 5}, "an int for a float: pydantic makes it 5.0"),
        ({"attempt": True}, "a bool is not an int here"),
        ({"attempt": "2"}, "a string for an int: pydantic decides"),
        ({"effect": "maybe"}, "not one of the literal's values"),
        ({"action": None}, "a required string given None"),
        ({"extra": 1}, "a field the schema does not have"),
    ],
)
def test_anything_but_exact_types_goes_to_pydantic(change: dict[str, Any], why: str) -> None:
    assert exact("policy_verdict")({**BASE, **change}) is None, why


def test_a_missing_field_and_a_datetime_go_to_pydantic() -> None:
    missing = dict(BASE)
    del missing["mode"]
    assert exact("policy_verdict")(missing) is None
    offer = {"handoff_id": "h", "to_agent": "b", "task": "t", "payload_sha256": None,
             "payload_ref": None, "contract": None, "deadline": datetime.now(UTC)}  # fmt: skip
    assert exact("handoff_offered")(offer) is None


DECISION = {"action": "a", "rationale": "r", "resource": None, "inputs": (), "checks": (),
            "alternatives": ()}  # fmt: skip


@pytest.mark.parametrize(
    "lists",
    [
        {"checks": [{"name": "c", "passed": True}, {"name": "d", "passed": False, "detail": "x"}]},
        {"checks": ({"name": "c", "passed": True, "detail": None},)},
        {"inputs": [{"name": "ticket", "ref": "jira:OPS-1"}, {"name": "v", "value": "3"}]},
        {"inputs": [{"name": "n", "ref": None, "value": None}], "alternatives": ("x", "y")},
        {"alternatives": ["wait", "escalate"]},
    ],
)
def test_lists_of_plain_values_and_records_skip_pydantic_and_match_it(
    lists: dict[str, Any],
) -> None:
    values = {**DECISION, **lists}
    fields = exact("decision_made")(dict(values))
    assert fields is not None
    assert fields == pydantic("decision_made", values)
    for name, given in lists.items():
        assert type(fields[name]) is list
        assert fields[name] is not given
        for copy, item in zip(fields[name], given, strict=True):
            assert copy == item
            assert type(item) is str or copy is not item  # records are copied, as pydantic does


def test_changing_a_list_after_the_call_does_not_change_the_fields() -> None:
    checks = [{"name": "c", "passed": True}]
    fields = exact("decision_made")({**DECISION, "checks": checks})
    assert fields is not None
    checks[0]["passed"] = False
    checks.append({"name": "late", "passed": True})
    assert fields["checks"] == [{"name": "c", "passed": True}]


@pytest.mark.parametrize(
    ("lists", "why"),
    [
        ({"checks": [{"name": "c"}]}, "a record without a required field: pydantic names it"),
        ({"checks": [{"name": "c", "passed": 1}]}, "an int for a bool"),
        ({"checks": [{"name": "c", "passed": True, "extra": 1}]}, "a field the record lacks"),
        ({"checks": [Check(name="c", passed=True)]}, "a model: pydantic dumps it"),
        ({"checks": [("c", True)]}, "not a dict"),
        ({"inputs": [{"name": "n", "ref": 5}]}, "an int for a string"),
        ({"alternatives": ["a", 1]}, "an int among strings"),
        ({"checks": [{"name": "c", "passed": True}], "alternatives": [None]}, "one bad list"),
    ],
)
def test_lists_of_anything_else_go_to_pydantic(lists: dict[str, Any], why: str) -> None:
    assert exact("decision_made")({**DECISION, **lists}) is None, why
