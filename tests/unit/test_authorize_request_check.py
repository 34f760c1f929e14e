"""An ``authorize`` request is checked without building its policy_verdict event
(``exact_args``), and that takes exactly what checking the whole event takes: the same
hostile argument sets are accepted, with the same values, or refused the same way."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from handrail.producers.checks import EventChecks
from handrail.producers.errors import InvalidEventError
from handrail.producers.exact_fields import exact, exact_args
from handrail.settings import EventLimits
from tests.support.hostile_values import arguments

NAMES = ("action", "resource", "mode", "cost_usd", "attempt")
SMALL = EventLimits(max_identifier_chars=64, max_text_chars=8_192, max_event_chars=65_536,
                    max_list_items=3)  # fmt: skip


def whole_event(checks: EventChecks, values: dict[str, Any]) -> tuple[Any, ...] | str:
    """The request as the whole policy_verdict event's check takes it, or its refusal."""
    try:
        _, v = checks.fields("policy_verdict", **{**values, "effect": "allow", "rule": "",
                                                   "reason": ""})  # fmt: skip
    except InvalidEventError as exc:
        return str(exc)
    return v["action"], v["resource"], v["cost_usd"], v["attempt"]


def request(checks: EventChecks, values: dict[str, Any]) -> tuple[Any, ...] | str:
    try:
        got = checks.request(values["action"], values["resource"], values["cost_usd"],
                             values["attempt"], values["mode"])  # fmt: skip
    except InvalidEventError as exc:
        return str(exc)
    return tuple(got)


@pytest.mark.parametrize("limits", [EventLimits(), SMALL], ids=["default", "small"])
def test_a_request_is_taken_or_refused_as_its_whole_event_would_be(limits: EventLimits) -> None:
    checks = EventChecks(limits)
    fast = exact_args("policy_verdict", NAMES, limits)
    whole = exact("policy_verdict", limits)

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(values=arguments("policy_verdict"))
    def check(values: dict[str, Any]) -> None:
        values = {n: values.get(n) for n in NAMES} | {"mode": values.get("mode", "enforce")}
        event = {**values, "effect": "allow", "rule": "", "reason": ""}
        assert fast(*(values[n] for n in NAMES)) == (whole(event) is not None)
        assert request(checks, values) == whole_event(checks, values)

    check()


@pytest.mark.parametrize(
    ("cost_usd", "attempt"),
    [(math.nan, None), (math.inf, None), (-1.0, None), (None, -1),
     (None, 2**63), (1e309, 0)],
    ids=repr,
)  # fmt: skip
def test_numbers_that_cannot_be_trusted_are_refused_at_the_request(
    cost_usd: Any, attempt: Any
) -> None:
    with pytest.raises(InvalidEventError, match="invalid policy_verdict event"):
        EventChecks().request("api.charge", None, cost_usd, attempt, "enforce")
