"""Channel adapters (I/O): each binds one configured channel to its format and transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx
import orjson
from rich.console import Console

from handrail.config import alerts as config
from handrail.processors.router.alert import Notice
from handrail.processors.router.delivery import HttpPoster, HttpTarget
from handrail.processors.router.outcome import DeliveryAttempt, scrub
from handrail.processors.router.pagerduty import pagerduty_event
from handrail.processors.router.signing import signature_headers
from handrail.processors.router.slack import slack_message
from handrail.processors.router.terminal import terminal_line
from handrail.processors.router.webhook import webhook_body


class Channel(Protocol):
    """Somewhere alerts go. ``deliver`` yields every attempt and never raises."""

    name: str
    kind: str
    target: str

    def deliver(self, notice: Notice) -> AsyncIterator[DeliveryAttempt]: ...


def url_target(url: str) -> str:
    """``host[:port]/path`` of ``url``: where it goes, without credentials or query."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host}{port}{parsed.path}"


class HttpChannel:
    """PagerDuty, Slack or a generic webhook: a JSON POST with retries."""

    def __init__(self, dest: HttpTarget, poster: HttpPoster, settings: config.Channel) -> None:
        self.name, self.kind, self.target = dest.channel, dest.kind, dest.target
        self._dest = dest
        self._poster = poster
        self._settings = settings

    def _render(self, notice: Notice, now: float) -> tuple[bytes, dict[str, str]]:
        settings = self._settings
        if isinstance(settings, config.PagerDutyChannel):
            key = settings.routing_key.get_secret_value()
            return orjson.dumps(pagerduty_event(notice, key)), {}
        if isinstance(settings, config.SlackChannel):
            return orjson.dumps(slack_message(notice)), {}
        if isinstance(settings, config.WebhookChannel):
            body = orjson.dumps(webhook_body(notice))
            return body, signature_headers(settings.secret.get_secret_value(), body, now=now)
        raise TypeError(f"not an HTTP channel: {settings.type}")

    async def deliver(self, notice: Notice) -> AsyncIterator[DeliveryAttempt]:
        async for attempt in self._poster.post(
            self._dest, notice.dedup_key, lambda now: self._render(notice, now)
        ):
            yield attempt


class TerminalChannel:
    """One rich line per alert event on a console."""

    kind = "terminal"

    def __init__(self, name: str, console: Console, target: str) -> None:
        self.name, self.target = name, target
        self._console = console

    async def deliver(self, notice: Notice) -> AsyncIterator[DeliveryAttempt]:
        try:
            self._console.print(terminal_line(notice), soft_wrap=True)
        except Exception as exc:  # a broken terminal is an outcome
            error: str | None = scrub(f"{type(exc).__name__}: {exc}", ())
        else:
            error = None
        yield DeliveryAttempt(
            dedup_key=notice.dedup_key,
            channel=self.name,
            kind=self.kind,
            target=self.target,
            attempt=1,
            ok=error is None,
            error=error,
        )


def _http_target(name: str, settings: config.Channel) -> HttpTarget:
    if isinstance(settings, config.PagerDutyChannel):
        url = str(settings.url)
        secret = settings.routing_key.get_secret_value()
        return HttpTarget(name, settings.type, url, url_target(url), (secret,))
    if isinstance(settings, config.SlackChannel):
        url = settings.webhook_url.get_secret_value()
        parsed = httpx.URL(url)
        secrets = (url, parsed.path) if parsed.path.strip("/") else (url,)
        return HttpTarget(name, settings.type, url, settings.label or parsed.host, secrets)
    if isinstance(settings, config.WebhookChannel):
        url = str(settings.url)
        secret = settings.secret.get_secret_value()
        return HttpTarget(name, settings.type, url, url_target(url), (secret,))
    raise TypeError(f"not an HTTP channel: {settings.type}")


def build_channels(
    settings: Mapping[str, config.Channel], poster: HttpPoster, console: Console | None
) -> dict[str, Channel]:
    """One adapter per configured channel; ``console`` overrides the terminal's stream."""
    channels: dict[str, Channel] = {}
    for name, channel in settings.items():
        if isinstance(channel, config.TerminalChannel):
            out = console or Console(stderr=channel.stream == "stderr")
            target = channel.stream if console is None else "console"
            channels[name] = TerminalChannel(name, out, target)
        else:
            channels[name] = HttpChannel(_http_target(name, channel), poster, channel)
    return channels
