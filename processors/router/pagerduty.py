"""The PagerDuty Events API v2 body of a notice (pure).

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ — the dedup key is
the alert's, so PagerDuty itself also folds repeats into one incident.
"""

from __future__ import annotations

from typing import Any

from handrail.processors.router.alert import Notice
from handrail.schemas.models import Severity

SUMMARY_MAX = 1024

PAGERDUTY_SEVERITY: dict[Severity, str] = {
    "critical": "critical",
    "warning": "warning",
    "info": "info",
}
"""handrail severity -> PagerDuty severity (critical | error | warning | info)."""


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pagerduty_event(notice: Notice, routing_key: str) -> dict[str, Any]:
    """The Events API v2 JSON object: a trigger for a raise, a resolve for a resolve."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": notice.action,
        "dedup_key": notice.dedup_key,
    }
    if notice.action == "resolve":
        return body
    raised, event = notice.raised, notice.event
    payload: dict[str, Any] = {
        "summary": truncate(raised.summary, SUMMARY_MAX),
        "source": raised.subject_agent or event.emitter,
        "severity": PAGERDUTY_SEVERITY[raised.severity],
        "component": raised.subject_operation,
        "group": raised.owner,
        "class": raised.detector,
        "timestamp": event.time.isoformat() if event.time else None,
        "custom_details": {
            "evidence": list(raised.evidence),
            "detector": raised.detector,
            "owner": raised.owner,
            "subject_agent": raised.subject_agent,
            "subject_operation": raised.subject_operation,
            "event_id": event.event_id,
            "workflow_id": event.workflow_id,
        },
    }
    body["payload"] = {key: value for key, value in payload.items() if value is not None}
    body["client"] = "handrail"
    return body
