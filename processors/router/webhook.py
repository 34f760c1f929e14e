"""The generic-webhook JSON body of a notice (pure); ``signing`` signs it."""

from __future__ import annotations

from typing import Any

from handrail.processors.router.alert import Notice

BODY_VERSION = 1


def webhook_body(notice: Notice) -> dict[str, Any]:
    """The alert as JSON: this event, and under ``alert`` the raise it belongs to."""
    event = notice.event
    return {
        "version": BODY_VERSION,
        "action": notice.action,
        "dedup_key": notice.dedup_key,
        "summary": notice.summary,
        "severity": notice.severity,
        "event_id": event.event_id,
        "workflow_id": event.workflow_id,
        "time": event.time.isoformat() if event.time else None,
        "emitter": event.emitter,
        "alert": notice.raised.model_dump(mode="json", exclude={"type"}),
    }
