"""The pydantic-free check of the common record call gives exactly what pydantic gives,
for every event type, and leaves every other call to pydantic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from pydantic import TypeAdapter

from handrail.producers.exact_fields import EMPTY, exact
from handrail.schemas.fields import PAYLOAD_FIELDS

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
    fields = exact(tag, dict(values))
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
    assert exact("policy_verdict", {**BASE, **change}) is None, why


def test_a_missing_field_a_datetime_and_a_non_empty_list_go_to_pydantic() -> None:
    missing = dict(BASE)
    del missing["mode"]
    assert exact("policy_verdict", missing) is None
    offer = {"handoff_id": "h", "to_agent": "b", "task": "t", "payload_sha256": None,
             "payload_ref": None, "contract": None, "deadline": datetime.now(UTC)}  # fmt: skip
    assert exact("handoff_offered", offer) is None
    decision = {"action": "a", "rationale": "r", "resource": None, "inputs": (),
                "checks": [{"name": "c", "passed": True}], "alternatives": ()}  # fmt: skip
    assert exact("decision_made", decision) is None
    assert exact("decision_made", {**decision, "checks": ()}) == pydantic(
        "decision_made", {**decision, "checks": ()}
    )
