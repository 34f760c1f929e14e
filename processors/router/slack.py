"""The Slack incoming-webhook message of a notice (pure): fallback text plus blocks."""

from __future__ import annotations

from typing import Any

from handrail.processors.router.alert import Notice
from handrail.processors.router.pagerduty import truncate
from handrail.schemas.models import Severity

SECTION_MAX = 3000  # Slack's limit on a section's text
EVIDENCE_SHOWN = 5

ICON: dict[Severity, str] = {
    "critical": ":red_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}
RESOLVED_ICON = ":white_check_mark:"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(notice: Notice) -> str:
    """``CRITICAL retry_storm (team-data)`` or ``RESOLVED retry_storm (team-data)``."""
    raised = notice.raised
    state = "RESOLVED" if notice.action == "resolve" else raised.severity.upper()
    return f"{state} {raised.detector} ({raised.owner})"


def slack_message(notice: Notice) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}``; a resolve shows as resolved, with what it cleared."""
    raised, event = notice.raised, notice.event
    icon = RESOLVED_ICON if notice.action == "resolve" else ICON[raised.severity]
    title = headline(notice)
    lines = [f"{icon} *{escape(title)}*", escape(notice.summary)]
    if notice.action == "resolve":
        lines.append(f"~{escape(raised.summary)}~")
    subject = " · ".join(
        f"{label}: `{escape(value)}`"
        for label, value in (
            ("agent", raised.subject_agent),
            ("operation", raised.subject_operation),
        )
        if value
    )
    context = [f"dedup_key: `{escape(notice.dedup_key)}`", f"event: `{event.event_id}`"]
    if subject:
        context.insert(0, subject)
    if raised.evidence and notice.action == "trigger":
        shown = ", ".join(f"`{escape(e)}`" for e in raised.evidence[:EVIDENCE_SHOWN])
        more = len(raised.evidence) - EVIDENCE_SHOWN
        context.append(f"evidence: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    return {
        "text": f"{title}: {notice.summary}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), SECTION_MAX)},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": item} for item in context],
            },
        ],
    }
