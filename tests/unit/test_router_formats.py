"""Message formats: PagerDuty Events v2, Slack, the signed webhook, the terminal line."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import time
from typing import Any

import orjson
import pytest
from rich.console import Console

from handrail.processors.router import signing
from handrail.processors.router.alert import Notice, parse_alert
from handrail.processors.router.pagerduty import SUMMARY_MAX, pagerduty_event
from handrail.processors.router.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_headers,
    verify_signature,
)
from handrail.processors.router.slack import slack_message
from handrail.processors.router.terminal import terminal_line
from handrail.processors.router.webhook import webhook_body
from handrail.schemas.models import AlertRaised
from tests.support.samples import event_record


def trigger(**fields: Any) -> Notice:
    event = parse_alert(event_record("alert_raised", **fields))
    assert isinstance(event.payload, AlertRaised)
    return Notice(event, event.payload)


def resolve(**fields: Any) -> Notice:
    raised = trigger(**fields).raised
    return Notice(parse_alert(event_record("alert_resolved")), raised)


# -- PagerDuty ---------------------------------------------------------------------------------


def test_pagerduty_trigger() -> None:
    notice = trigger()
    body = pagerduty_event(notice, "ROUTING-KEY")
    assert body["routing_key"] == "ROUTING-KEY"
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "retry_storm:a:op-1"
    assert body["payload"] == {
        "summary": "12 retries in 60s",
        "source": "a",
        "severity": "critical",
        "component": "op-1",
        "group": "team-data",
        "class": "retry_storm",
        "timestamp": "2026-11-24T06:00:00+00:00",
        "custom_details": {
            "evidence": ["e1", "e2"],
            "detector": "retry_storm",
            "owner": "team-data",
            "subject_agent": "a",
            "subject_operation": "op-1",
            "event_id": notice.event.event_id,
            "workflow_id": "wf",
        },
    }


@pytest.mark.parametrize(
    ("severity", "pd_severity"),
    [("critical", "critical"), ("warning", "warning"), ("info", "info")],
)
def test_pagerduty_severity(severity: str, pd_severity: str) -> None:
    assert pagerduty_event(trigger(severity=severity), "k")["payload"]["severity"] == pd_severity


@pytest.mark.parametrize(
    ("summary", "length"), [("x" * 1024, 1024), ("x" * 5000, 1024), ("short", 5)]
)
def test_pagerduty_summary_at_most_1024(summary: str, length: int) -> None:
    sent = pagerduty_event(trigger(summary=summary), "k")["payload"]["summary"]
    assert len(sent) == length <= SUMMARY_MAX


def test_pagerduty_without_subject_uses_the_emitter_and_omits_nulls() -> None:
    payload = pagerduty_event(trigger(subject_agent=None, subject_operation=None), "k")["payload"]
    assert payload["source"] == "a"  # the agent that emitted the alert
    assert "component" not in payload


def test_pagerduty_resolve() -> None:
    assert pagerduty_event(resolve(), "K") == {
        "routing_key": "K",
        "event_action": "resolve",
        "dedup_key": "retry_storm:a:op-1",
    }


# -- Slack -------------------------------------------------------------------------------------


def test_slack_trigger() -> None:
    message = slack_message(trigger())
    assert message["text"] == "CRITICAL retry_storm (team-data): 12 retries in 60s"
    section, context = message["blocks"]
    assert section["type"] == "section"
    assert section["text"]["text"].startswith(":red_circle: *CRITICAL retry_storm (team-data)*")
    texts = " ".join(e["text"] for e in context["elements"])
    assert "dedup_key: `retry_storm:a:op-1`" in texts
    assert "evidence: `e1`, `e2`" in texts
    assert "agent: `a` · operation: `op-1`" in texts


def test_slack_resolve_shows_resolved() -> None:
    message = slack_message(resolve())
    assert message["text"] == "RESOLVED retry_storm (team-data): no retries for 10m"
    text = message["blocks"][0]["text"]["text"]
    assert text.startswith(":white_check_mark: *RESOLVED")
    assert "~12 retries in 60s~" in text  # what cleared, struck through


def test_slack_escapes_control_characters() -> None:
    text = slack_message(trigger(summary="<!channel> a & b"))["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; a &amp; b" in text


def test_slack_shows_a_few_evidence_ids() -> None:
    message = slack_message(trigger(evidence=[f"e{i}" for i in range(9)]))
    assert "(+4 more)" in message["blocks"][1]["elements"][-1]["text"]


# -- the generic webhook and its signature -----------------------------------------------------


def test_webhook_body() -> None:
    body = webhook_body(resolve())
    assert body["action"] == "resolve"
    assert body["summary"] == "no retries for 10m"
    assert body["severity"] == "critical"
    assert body["alert"]["summary"] == "12 retries in 60s"
    assert body["alert"]["evidence"] == ["e1", "e2"]
    orjson.dumps(body)


def documented_recipe() -> Any:
    """The verification recipe exactly as the ``signing`` docstring shows it."""
    doc = signing.__doc__ or ""
    code = re.search(r"::\n\n(.*?)\n\n\S", doc, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(re.sub(r"^    ", "", code.group(1), flags=re.M), namespace)
    return namespace["verify"]


def test_the_documented_recipe_verifies_a_signature() -> None:
    body = orjson.dumps(webhook_body(trigger()))
    headers = signature_headers("s3cret", body, now=time.time())
    verify = documented_recipe()
    assert verify(b"s3cret", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify(b"wrong", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify(b"s3cret", body + b" ", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])


def test_signature_covers_timestamp_dot_body() -> None:
    headers = signature_headers("k", b'{"a":1}', now=1_700_000_000.9)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    mac = hmac.new(b"k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={mac}"


NOW = 1_700_000_000.0
GOOD = signature_headers("k", b"{}", now=NOW)
SIGNED = {
    "secret": "k",
    "body": b"{}",
    "timestamp": GOOD[TIMESTAMP_HEADER],
    "signature": GOOD[SIGNATURE_HEADER],
    "now": NOW,
}


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"now": NOW + 299}, True),
        ({"now": NOW + 301}, False),  # a replay
        ({"now": NOW - 301}, False),
        ({"secret": "other"}, False),
        ({"body": b"{ }"}, False),
        ({"timestamp": str(int(NOW) + 1)}, False),  # a moved timestamp
        ({"timestamp": "yesterday"}, False),
        ({"signature": "sha256=00"}, False),
    ],
)
def test_verify_signature(change: dict[str, Any], ok: bool) -> None:
    args = {**SIGNED, **change}
    now = args.pop("now")
    assert verify_signature(**args, now=now) is ok


# -- the terminal ------------------------------------------------------------------------------


def printed(notice: Notice) -> str:
    out = io.StringIO()
    Console(file=out, width=40, color_system=None).print(terminal_line(notice), soft_wrap=True)
    return out.getvalue()


def test_terminal_one_line_per_alert() -> None:
    text = printed(trigger(summary="line one\nline two " + "x" * 80))
    assert text.count("\n") == 1
    assert text.startswith("06:00:00 CRITICAL retry_storm team-data a/op-1  line one line two")
    assert text.rstrip().endswith("[retry_storm:a:op-1]")


def test_terminal_resolve() -> None:
    assert " RESOLVED retry_storm team-data a/op-1  no retries for 10m " in printed(resolve())


def test_terminal_does_not_interpret_markup() -> None:
    assert "[bold]x[/bold]" in printed(trigger(summary="[bold]x[/bold]"))
