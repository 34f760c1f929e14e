"""The terminal line of a notice (pure): one styled line per alert event."""

from __future__ import annotations

from rich.text import Text

from handrail.processors.router.alert import Notice
from handrail.schemas.models import Severity

STYLE: dict[Severity, str] = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
RESOLVED_STYLE = "green"


def one_line(text: str) -> str:
    """``text`` with line breaks turned into spaces."""
    return " ".join(text.split())


def terminal_line(notice: Notice) -> Text:
    """``06:00:00 CRITICAL retry_storm team-data  12 retries in 60s  [dedup key]``."""
    raised, event = notice.raised, notice.event
    resolved = notice.action == "resolve"
    when = event.time.strftime("%H:%M:%S") if event.time else "--:--:--"
    label = "RESOLVED" if resolved else raised.severity.upper()
    subject = "/".join(x for x in (raised.subject_agent, raised.subject_operation) if x)
    return Text.assemble(
        (when, "dim"),
        " ",
        (f"{label:<8}", RESOLVED_STYLE if resolved else STYLE[raised.severity]),
        " ",
        (raised.detector, "bold"),
        " ",
        raised.owner,
        (f" {subject}" if subject else "", "dim"),
        "  ",
        one_line(notice.summary),
        "  ",
        (f"[{notice.dedup_key}]", "dim"),
    )
