"""The alert router: delivers alert events to on-call (PagerDuty, Slack, a signed webhook,
the terminal), routed by owner and severity, with retries and suppression of repeats, and
records every delivery attempt as an ``alert_delivered`` event.

async with AlertRouter(settings.alerts, recorder, state={}) as router:
    attempts = await router.handle(record)

``handrail.settings`` imports ``config`` from here, so this module stays light: the
router and its channels (httpx, rich) load on first use of ``AlertRouter``/``Channel``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from handrail.processors.router.config import (
    PagerDutyChannel,
    RetrySettings,
    Route,
    RouterSettings,
    SlackChannel,
    TerminalChannel,
    WebhookChannel,
)
from handrail.processors.router.errors import MalformedAlertError, RouterError
from handrail.processors.router.outcome import DeliveryAttempt
from handrail.processors.router.recording import DeliveryRecorder, MemoryRecorder, Recorded
from handrail.processors.router.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from handrail.processors.router.suppression import StateEntry

if TYPE_CHECKING:
    from handrail.processors.router.channels import Channel
    from handrail.processors.router.router import AlertRouter

_LAZY = {"AlertRouter": "router", "Channel": "channels"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertRouter",
    "Channel",
    "DeliveryAttempt",
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
