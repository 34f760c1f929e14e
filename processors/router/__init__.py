"""The alert router: delivers alert events to on-call (PagerDuty, Slack, a signed webhook,
the terminal), routed by owner and severity, with retries and suppression of repeats, and
records every delivery attempt as an ``alert_delivered`` event.

async with AlertRouter(settings.alerts, recorder, state={}) as router:
    attempts = await router.handle(record)

Its settings (channels, routes) are ``handrail.config.alerts``, re-exported here.
May import: ``handrail.config``, ``handrail.schemas``, ``handrail.producers`` (to record
deliveries), httpx and rich.
"""

from handrail.config.alerts import (
    PagerDutyChannel,
    RetrySettings,
    Route,
    RouterSettings,
    SlackChannel,
    TerminalChannel,
    WebhookChannel,
)
from handrail.processors.router.channels import Channel
from handrail.processors.router.errors import MalformedAlertError, RouterError
from handrail.processors.router.outcome import DeliveryAttempt
from handrail.processors.router.recording import (
    DeliveryEvents,
    DeliveryRecorder,
    MemoryRecorder,
    Recorded,
)
from handrail.processors.router.router import AlertRouter
from handrail.processors.router.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from handrail.processors.router.suppression import StateEntry

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertRouter",
    "Channel",
    "DeliveryAttempt",
    "DeliveryEvents",
    "DeliveryRecorder",
    "MalformedAlertError",
    "MemoryRecorder",
    "PagerDutyChannel",
    "Recorded",
    "RetrySettings",
    "Route",
    "RouterError",
    "RouterSettings",
    "SlackChannel",
    "StateEntry",
    "TerminalChannel",
    "WebhookChannel",
    "verify_signature",
]
