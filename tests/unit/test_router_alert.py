"""Parsing alert event records; malformed ones raise ``MalformedAlertError``."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.processors.router import MalformedAlertError, RouterError
from handrail.processors.router.alert import is_alert, parse_alert
from handrail.schemas import AVRO_NAMES
from handrail.schemas.models import AlertRaised, AlertResolved
from tests.support.samples import event_record


def without(record: dict[str, Any], field: str) -> dict[str, Any]:
    name, fields = record["payload"]
    return {**record, "payload": (name, {k: v for k, v in fields.items() if k != field})}


def test_raised() -> None:
    record = event_record("alert_raised")
    event = parse_alert(record)
    assert event.action == "trigger"
    assert isinstance(event.payload, AlertRaised)
    assert (event.event_id, event.workflow_id, event.emitter) == (record["event_id"], "wf", "a")
    assert event.dedup_key == "retry_storm:a:op-1"


def test_resolved() -> None:
    event = parse_alert(event_record("alert_resolved"))
    assert event.action == "resolve"
    assert isinstance(event.payload, AlertResolved)


@pytest.mark.parametrize(
    ("kind", "truth"),
    [("alert_raised", True), ("alert_resolved", True), ("heartbeat", False), ("halt", False)],
)
def test_is_alert(kind: str, truth: bool) -> None:
    assert is_alert(event_record(kind)) is truth


MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "no dedup_key": (
        without(event_record("alert_raised"), "dedup_key"),
        "dedup_key: Field required",
    ),
    "no severity": (without(event_record("alert_raised"), "severity"), "severity: Field required"),
    "no owner": (without(event_record("alert_raised"), "owner"), "owner: Field required"),
    "bad severity": (event_record("alert_raised", severity="sev1"), "severity: Input should be"),
    "resolve without summary": (without(event_record("alert_resolved"), "summary"), "summary"),
    "unknown field": (event_record("alert_resolved", colour="red"), "colour: Extra inputs"),
    "no event id": ({**event_record("alert_raised"), "event_id": None}, "without event_id"),
    "no workflow": (
        {k: v for k, v in event_record("alert_raised").items() if k != "workflow_id"},
        "without workflow_id",
    ),
    "payload not a dict": (
        {**event_record("alert_raised"), "payload": (AVRO_NAMES["alert_raised"], None)},
        "malformed",
    ),
    "not an alert": (event_record("heartbeat"), "not an alert event"),
}


@pytest.mark.parametrize(("record", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed(record: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedAlertError, match=message) as caught:
        parse_alert(record)
    assert isinstance(caught.value, RouterError)
    assert isinstance(caught.value, ValueError)
