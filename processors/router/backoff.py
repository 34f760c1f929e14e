"""When to retry a delivery and how long to wait first: pure functions of the settings."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Literal

from handrail.backoff import exponential
from handrail.config.alerts import RetrySettings

Verdict = Literal["ok", "retry", "fail"]


def classify_status(status_code: int) -> Verdict:
    """2xx is delivered; 429 and 5xx are worth retrying; anything else is a final failure."""
    if 200 <= status_code < 300:
        return "ok"
    if status_code == 429 or status_code >= 500:
        return "retry"
    return "fail"


def backoff_delay(
    failed_attempt: int,
    retry: RetrySettings,
    *,
    rand: float = 0.5,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after attempt ``failed_attempt`` (1-based) before the next one.

    ``initial * multiplier**(n-1)``, capped at ``max_backoff_s``, varied by ``jitter``
    (``rand`` in [0, 1) picks where in the band; 0.5 is no variation). A server's
    ``Retry-After`` raises the wait to at least that much, still capped.
    """
    base = exponential(
        failed_attempt, retry.initial_backoff_s, retry.max_backoff_s, retry.multiplier
    )
    delay = base * (1 + retry.jitter * (2 * rand - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, retry.max_backoff_s))


def schedule(retry: RetrySettings) -> list[float]:
    """The pauses between all attempts, without jitter: ``max_attempts - 1`` of them."""
    return [backoff_delay(n, retry) for n in range(1, retry.max_attempts)]


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
