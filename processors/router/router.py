"""The alert router: alert events in, deliveries to on-call out, every attempt recorded.

``handle`` parses an alert event, decides from the suppression state whether and where
it goes (pure: ``routing``, ``suppression``), delivers it to those channels at once
(each with its own retries), records every attempt as an ``alert_delivered`` event, and
stores the key's new state. Delivery trouble never raises: it is logged and recorded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType

import httpx
from rich.console import Console

from handrail.config.alerts import RouterSettings
from handrail.processors.router.alert import AlertEvent, Notice, is_alert, parse_alert
from handrail.processors.router.channels import Channel, build_channels
from handrail.processors.router.delivery import HttpPoster
from handrail.processors.router.locks import KeyedLocks
from handrail.processors.router.outcome import DeliveryAttempt, scrub
from handrail.processors.router.recording import DeliveryRecorder, delivered_event
from handrail.processors.router.routing import select_channels
from handrail.processors.router.suppression import StateEntry, decide, expired, settle
from handrail.schemas import EventRecord
from handrail.schemas.models import AlertRaised

log = logging.getLogger(__name__)
FORGET_EVERY = 1_000
"""Alerts delivered between two passes over the state for closed keys to forget."""


class AlertRouter:
    """Routes alert events to their channels, suppressing repeats per dedup key.

    ``state`` holds the suppression state (a dict embedded, a changelogged Faust table in
    a worker); ``recorder`` receives one ``alert_delivered`` event per attempt. ``client``,
    ``console``, ``sleep``, ``clock`` and ``rng`` replace the real ones (tests, sharing).
    """

    def __init__(
        self,
        settings: RouterSettings,
        recorder: DeliveryRecorder,
        state: MutableMapping[str, StateEntry],
        *,
        client: httpx.AsyncClient | None = None,
        console: Console | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._recorder = recorder
        self._state = state
        self._settled = 0
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=settings.retry.timeout_s)
        poster = HttpPoster(
            self._client, settings.retry, sleep=sleep, clock=clock, rng=rng or random.Random()
        )
        self._channels: dict[str, Channel] = build_channels(settings.channels, poster, console)
        self._locks = KeyedLocks()

    async def handle(self, record: EventRecord) -> list[DeliveryAttempt]:
        """Deliver one event record if it is an alert that is due; every attempt, in order.

        Returns ``[]`` for events that are not alerts and for suppressed alerts. Raises
        only ``MalformedAlertError``, for an alert record that lacks fields.
        """
        if not is_alert(record):
            return []
        event = parse_alert(record)
        async with self._locks.hold(event.dedup_key):
            entry = self._state.get(event.dedup_key)
            decision = decide(entry, event, self._routes(event))
            if decision.notice is None:
                log.info(
                    "alert %s (%s) not delivered: %s",
                    event.dedup_key,
                    event.action,
                    decision.reason,
                )
                return []
            attempts = await self._deliver(decision.notice, decision.channels)
            done = [a.channel for a in attempts if a.ok]
            if decision.notice.action == "resolve":
                done += [name for name in decision.channels if name not in self._channels]
            new = settle(entry, decision.notice, done, time.time())
            if new is not None and new != entry:
                self._state[event.dedup_key] = new
        self._settled += 1
        if self._settled % FORGET_EVERY == 0:
            self.forget_closed(time.time())
        return attempts

    def forget_closed(self, now: float) -> None:
        """Drop the keys closed for longer than ``CLOSED_KEPT_S``."""
        for key in [k for k, entry in list(self._state.items()) if expired(entry, now)]:
            del self._state[key]

    def _routes(self, event: AlertEvent) -> list[str]:
        payload = event.payload
        if not isinstance(payload, AlertRaised):
            return []
        s = self._settings
        return select_channels(s.routes, s.default, payload.owner, payload.severity)

    async def _deliver(self, notice: Notice, names: tuple[str, ...]) -> list[DeliveryAttempt]:
        gone = [name for name in names if name not in self._channels]
        if gone:
            log.warning("alert %s: channels no longer configured: %s", notice.dedup_key, gone)
        runs = [self._deliver_to(self._channels[n], notice) for n in names if n not in gone]
        return [attempt for run in await asyncio.gather(*runs) for attempt in run]

    async def _deliver_to(self, channel: Channel, notice: Notice) -> list[DeliveryAttempt]:
        attempts: list[DeliveryAttempt] = []
        try:
            async for attempt in channel.deliver(notice):
                attempts.append(attempt)
                self._record(notice, attempt)
        except Exception as exc:  # a bug in one channel must not stop the rest
            log.exception("alert %s: channel %s failed", notice.dedup_key, channel.name)
            attempt = DeliveryAttempt(
                dedup_key=notice.dedup_key,
                channel=channel.name,
                kind=channel.kind,
                target=channel.target,
                attempt=len(attempts) + 1,
                ok=False,
                error=scrub(f"{type(exc).__name__}: {exc}", ()),
            )
            attempts.append(attempt)
            self._record(notice, attempt)
        return attempts

    def _record(self, notice: Notice, attempt: DeliveryAttempt) -> None:
        if attempt.ok:
            log.info(
                "alert %s %s -> %s (attempt %d)",
                notice.dedup_key,
                notice.action,
                attempt.channel,
                attempt.attempt,
            )
        else:
            log.warning(
                "alert %s %s -> %s failed (attempt %d%s): %s",
                notice.dedup_key,
                notice.action,
                attempt.channel,
                attempt.attempt,
                ", giving up" if attempt.final else "",
                attempt.error,
            )
        try:
            self._recorder.record(
                delivered_event(attempt),
                caused_by=notice.event.event_id,
                workflow_id=notice.event.workflow_id,
            )
        except Exception:  # recording trouble must not stop delivery
            log.exception("alert %s: could not record a delivery attempt", notice.dedup_key)

    async def aclose(self) -> None:
        """Close the HTTP client if the router made it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AlertRouter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
