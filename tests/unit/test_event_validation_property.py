"""The property of the SDK's validation (issue 23, item 1): for every event type, every
argument set either raises ``InvalidEventError`` at the call or gives an event the
shipper's encoder writes and reads back unchanged. Thousands of hostile argument sets
per type (``tests.support.hostile_values``): 400 in CI (derandomized: the same ones each
run, about 25 s in all), ``HANDRAIL_PROPERTY_EXAMPLES=5000`` for a longer hunt.
What the exact-type fast path takes, the slow path (pydantic, then the rules) takes
too. The ledger half of the property (spool -> embedded pipeline -> chdb -> ``verify``) is
``tests/integration/test_event_validation_ledger.py``."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from handrail.producers.checks import EventChecks, _validator
from handrail.producers.errors import InvalidEventError
from handrail.producers.exact_fields import exact
from handrail.producers.session import Session
from handrail.producers.validation import problem, time_fields
from handrail.schemas import AVRO_NAMES, decode, encode
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.schemas.timestamps import to_micros
from handrail.settings import EventLimits
from tests.support.hostile_values import HOSTILE_TEXT, LABELS, arguments, event_id_like

CHECKS = EventChecks()
SMALL = EventChecks(EventLimits(max_identifier_chars=64, max_text_chars=8_192,
                                max_event_chars=65_536, max_list_items=3))  # fmt: skip
SESSION = Session({"name": "agent", "version": "1", "owner": "team"}, {"env": "test"})
EXAMPLES = int(os.environ.get("HANDRAIL_PROPERTY_EXAMPLES", "400"))
PER_TYPE = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


def accepted_or_refused(checks: EventChecks, tag: str, values: dict[str, Any]) -> None:
    fast_path_agrees(checks, tag, values)
    try:
        _, fields = checks.fields(tag, **values)
    except InvalidEventError as exc:
        refused = str(exc)
    else:
        refused = None
    if refused is not None:
        assert f"invalid {tag} event" in refused
        return
    event = (str(uuid.uuid4()), 1, 1_764_000_000_000_000, "wf", None, None, AVRO_NAMES[tag],
             fields)  # fmt: skip
    _, back = decode(encode(SESSION.record(event)))
    assert back["payload"][0] == AVRO_NAMES[tag]
    written = back["payload"][1]
    assert {n: normal(tag, n, written[n]) for n in fields} == {
        n: normal(tag, n, v) for n, v in fields.items()
    }


def fast_path_agrees(checks: EventChecks, tag: str, values: dict[str, Any]) -> None:
    """What the exact-type fast path takes, pydantic and the rules take too, equal."""
    fast = exact(tag, checks.limits)(dict(values))
    if fast is None:
        return
    slow = _validator(tag).validate_python(dict(values))
    assert problem(tag, slow, checks.limits) is None
    assert {n: normal(tag, n, v) for n, v in fast.items()} == {
        n: normal(tag, n, v) for n, v in slow.items()
    }


def normal(tag: str, name: str, value: Any) -> Any:
    """A field as compared: times as micros, sequences as lists, records without Nones."""
    if name in time_fields(tag) and isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, list | tuple):
        return [
            {k: x for k, x in v.items() if x is not None} if isinstance(v, dict) else v
            for v in value
        ]
    return value


@pytest.mark.parametrize("tag", sorted(PAYLOAD_FIELDS))
def test_every_argument_set_is_refused_at_the_call_or_encodes(tag: str) -> None:
    @PER_TYPE
    @given(values=arguments(tag))
    def check(values: dict[str, Any]) -> None:
        accepted_or_refused(CHECKS, tag, values)

    check()


@pytest.mark.parametrize("tag", ["decision_made", "handoff_accepted", "alert_raised"])
def test_under_small_limits_too(tag: str) -> None:
    @settings(PER_TYPE, max_examples=EXAMPLES // 2)
    @given(values=arguments(tag))
    def check(values: dict[str, Any]) -> None:
        accepted_or_refused(SMALL, tag, values)

    check()


@settings(PER_TYPE, max_examples=EXAMPLES * 2)
@given(workflow=HOSTILE_TEXT, cause=event_id_like(), labels=LABELS)
def test_every_envelope_is_refused_or_encodes(workflow: str, cause: Any, labels: Any) -> None:
    try:
        wf = CHECKS.workflow_id(workflow, "heartbeat")
        cause_id = None if cause is None else CHECKS.event_id(cause, "heartbeat")
        label_map = None if labels is None else CHECKS.labels(labels, "heartbeat")
    except InvalidEventError:
        return
    fields = CHECKS.fields("heartbeat", status=None, interval_s=None)[1]
    event = (str(uuid.uuid4()), 1, 0, wf, cause_id, label_map, AVRO_NAMES["heartbeat"], fields)
    _, back = decode(encode(SESSION.record(event)))
    assert (back["workflow_id"], back["causation_id"]) == (wf, cause_id)
    assert back["labels"] == (SESSION.labels if label_map is None else label_map)


def test_the_strategies_reach_both_outcomes() -> None:
    """The property is not vacuous: hostile sets are refused and plain ones accepted."""
    outcomes: set[bool] = set()

    @settings(PER_TYPE, max_examples=200)
    @given(values=arguments("spend"))
    def check(values: dict[str, Any]) -> None:
        try:
            CHECKS.fields("spend", **values)
            outcomes.add(True)
        except InvalidEventError:
            outcomes.add(False)

    check()
    assert outcomes == {True, False}
