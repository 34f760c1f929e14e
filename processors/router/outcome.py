"""The result of one delivery attempt, as the router returns and records it."""

from __future__ import annotations

from dataclasses import dataclass

ERROR_MAX = 500


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver one alert event to one channel. Carries no secrets."""

    dedup_key: str
    channel: str
    """The configured channel name, e.g. 'pd-data'."""
    kind: str
    """pagerduty, slack, webhook or terminal."""
    target: str
    """Where it went, without secrets: e.g. 'events.pagerduty.com/v2/enqueue'."""
    attempt: int
    ok: bool
    status_code: int | None = None
    error: str | None = None
    final: bool = True
    """False when another attempt follows this one."""


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` shortened, with every secret in it replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:ERROR_MAX]
