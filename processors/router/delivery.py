"""HTTP delivery with retries (I/O): POST a rendered body, back off, try again.

Retried: connection errors, timeouts, dropped connections, 429 (honouring Retry-After)
and 5xx. Not retried: other 4xx and errors of the request itself. Every attempt is
yielded as it ends, so the caller can record it before the next one starts.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from handrail.config.alerts import RetrySettings
from handrail.processors.router.backoff import (
    Verdict,
    backoff_delay,
    classify_status,
    parse_retry_after,
)
from handrail.processors.router.outcome import DeliveryAttempt, scrub

RESPONSE_SHOWN = 200

Render = Callable[[float], tuple[bytes, dict[str, str]]]
"""Given the time of the attempt, the request body and the extra headers."""


def retryable_error(exc: Exception) -> bool:
    """Whether a failed request may succeed when sent again (network trouble, timeouts)."""
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


@dataclass(frozen=True)
class HttpTarget:
    """One HTTP endpoint of a channel: how to reach it and how to name it in records."""

    channel: str
    kind: str
    url: str = field(repr=False)  # a Slack webhook URL is a secret
    target: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Strings that must never appear in a recorded error (keys, secret URLs)."""


class HttpPoster:
    """POSTs JSON with bounded, exponentially backed-off retries through one client."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        retry: RetrySettings,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._client = client
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    async def post(
        self, dest: HttpTarget, dedup_key: str, render: Render
    ) -> AsyncIterator[DeliveryAttempt]:
        """Deliver until success, a final failure or the last attempt; yield each attempt."""
        last = self._retry.max_attempts
        for attempt in range(1, last + 1):
            verdict, status, error, retry_after = await self._once(dest, render)
            final = verdict != "retry" or attempt == last
            yield DeliveryAttempt(
                dedup_key=dedup_key,
                channel=dest.channel,
                kind=dest.kind,
                target=dest.target,
                attempt=attempt,
                ok=verdict == "ok",
                status_code=status,
                error=None if error is None else scrub(error, dest.secrets),
                final=final,
            )
            if final:
                return
            delay = backoff_delay(
                attempt, self._retry, rand=self._rng.random(), retry_after=retry_after
            )
            await self._sleep(delay)

    async def _once(
        self, dest: HttpTarget, render: Render
    ) -> tuple[Verdict, int | None, str | None, float | None]:
        try:
            body, headers = render(self._clock())
            response = await self._client.post(
                dest.url,
                content=body,
                headers={"Content-Type": "application/json", **headers},
                timeout=self._retry.timeout_s,
            )
        except Exception as exc:  # any failure is an outcome, never raised
            verdict: Verdict = "retry" if retryable_error(exc) else "fail"
            return verdict, None, f"{type(exc).__name__}: {exc}", None
        code = response.status_code
        verdict = classify_status(code)
        if verdict == "ok":
            return verdict, code, None, None
        retry_after = None
        if code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._clock())
        return verdict, code, f"HTTP {code}: {response.text[:RESPONSE_SHOWN]}", retry_after
