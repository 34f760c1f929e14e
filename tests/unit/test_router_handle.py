"""``AlertRouter.handle`` without a network: the terminal channel, an in-memory recorder,
and HTTP answers scripted through httpx's MockTransport for the retry loop."""

from __future__ import annotations

import asyncio
import io
import json
import random
from typing import Any

import httpx
import pytest
from rich.console import Console

from handrail.processors.router import (
    AlertRouter,
    DeliveryAttempt,
    MalformedAlertError,
    MemoryRecorder,
    RetrySettings,
    RouterSettings,
    StateEntry,
)
from handrail.processors.router.delivery import HttpPoster, HttpTarget
from handrail.schemas.models import AlertDelivered
from tests.support.samples import event_record


class Terminal:
    """A router printing to a string, recording in memory."""

    def __init__(self, settings: RouterSettings | None = None) -> None:
        self.out = io.StringIO()
        self.recorder = MemoryRecorder()
        self.state: dict[str, StateEntry] = {}
        self.settings = settings or RouterSettings()
        self.console = Console(file=self.out, width=200, color_system=None)

    def handle(self, *records: dict[str, Any]) -> list[list[DeliveryAttempt]]:
        async def main() -> list[list[DeliveryAttempt]]:
            async with AlertRouter(
                self.settings, self.recorder, self.state, console=self.console
            ) as router:
                return [await router.handle(r) for r in records]

        return asyncio.run(main())

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


def test_raise_repeat_resolve_raise() -> None:
    t = Terminal()
    raised, repeat, resolved, again = (
        event_record("alert_raised"),
        event_record("alert_raised"),
        event_record("alert_resolved"),
        event_record("alert_raised"),
    )
    outcomes = t.handle(raised, repeat, resolved, again)
    assert [len(o) for o in outcomes] == [1, 0, 1, 1]
    assert len(t.lines) == 3
    assert "CRITICAL" in t.lines[0]
    assert "RESOLVED" in t.lines[1]
    assert t.state == {"retry_storm:a:op-1": t.state["retry_storm:a:op-1"]}
    json.dumps(t.state)
    first = t.recorder.events[0]
    assert first.caused_by == raised["event_id"]
    assert first.workflow_id == "wf"
    assert first.payload == AlertDelivered(
        dedup_key="retry_storm:a:op-1",
        channel="terminal",
        target="terminal@console",
        ok=True,
        attempt=1,
    )
    assert [e.caused_by for e in t.recorder.events] == [
        raised["event_id"],
        resolved["event_id"],
        again["event_id"],
    ]


def test_other_events_are_ignored() -> None:
    t = Terminal()
    assert t.handle(event_record("heartbeat"), event_record("alert_delivered")) == [[], []]
    assert t.lines == []


def test_malformed_alert_raises() -> None:
    t = Terminal()
    with pytest.raises(MalformedAlertError, match="severity"):
        t.handle(event_record("alert_raised", severity="sev1"))


def test_recorder_trouble_does_not_raise() -> None:
    class Broken:
        def record(self, payload: AlertDelivered, **_: object) -> object:
            raise RuntimeError("recorder closed")

    async def main() -> list[DeliveryAttempt]:
        console = Console(file=io.StringIO())
        async with AlertRouter(RouterSettings(), Broken(), {}, console=console) as router:
            return await router.handle(event_record("alert_raised"))

    assert [a.ok for a in asyncio.run(main())] == [True]


def test_a_broken_terminal_is_recorded_not_raised() -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError("stdout closed")

    t = Terminal()
    t.console = Console(file=Closed())
    [attempts] = t.handle(event_record("alert_raised"))
    assert [(a.ok, a.error) for a in attempts] == [(False, "OSError: stdout closed")]
    assert t.state == {}  # not delivered: a repeat will be tried again


def test_concurrent_repeats_are_delivered_once() -> None:
    t = Terminal()

    async def main() -> list[list[DeliveryAttempt]]:
        async with AlertRouter(t.settings, t.recorder, t.state, console=t.console) as router:
            return await asyncio.gather(
                *(router.handle(event_record("alert_raised")) for _ in range(5))
            )

    assert sorted(len(o) for o in asyncio.run(main())) == [0, 0, 0, 0, 1]


def test_resolve_to_a_channel_no_longer_configured_clears_the_key() -> None:
    t = Terminal()
    t.handle(event_record("alert_raised"))
    t.settings = RouterSettings.model_validate(
        {"channels": {"tty": {"type": "terminal"}}, "default": ["tty"]}
    )
    assert t.handle(event_record("alert_resolved")) == [[]]
    assert [entry["open"] for entry in t.state.values()] == [[]]  # closed


# -- the HTTP retry loop, with scripted answers ------------------------------------------------

Answer = int | tuple[int, dict[str, str]] | type[Exception]


def post_all(
    answers: list[Answer], retry: RetrySettings
) -> tuple[list[DeliveryAttempt], list[float]]:
    script = list(answers)
    sleeps: list[float] = []

    def respond(request: httpx.Request) -> httpx.Response:
        answer = script.pop(0)
        if isinstance(answer, type):
            raise answer("scripted", request=request)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return httpx.Response(status, headers=headers, text="echo R-SECRET")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def render(now: float) -> tuple[bytes, dict[str, str]]:
        return b"{}", {}

    async def main() -> list[DeliveryAttempt]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
            poster = HttpPoster(client, retry, sleep=sleep, clock=lambda: 0.0, rng=random.Random(0))
            dest = HttpTarget("pd", "pagerduty", "http://pd.test/e", "pd.test/e", ("R-SECRET",))
            return [a async for a in poster.post(dest, "k", render)]

    return asyncio.run(main()), sleeps


RETRY = RetrySettings(max_attempts=4, initial_backoff_s=0.5, multiplier=2, jitter=0)


@pytest.mark.parametrize(
    ("answers", "statuses", "oks", "sleeps"),
    [
        ([202], [202], [True], []),
        ([500, 200], [500, 200], [False, True], [0.5]),
        ([400], [400], [False], []),
        ([404, 200], [404], [False], []),
        ([(429, {"Retry-After": "3"}), 202], [429, 202], [False, True], [3.0]),
        ([503, 502, 500, 504], [503, 502, 500, 504], [False] * 4, [0.5, 1.0, 2.0]),
        (
            [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, 200],
            [None, None, None, 200],
            [False, False, False, True],
            [0.5, 1.0, 2.0],
        ),
        ([httpx.RemoteProtocolError, 200], [None, 200], [False, True], [0.5]),
        ([httpx.UnsupportedProtocol], [None], [False], []),
    ],
)
def test_retry_loop(
    answers: list[Answer], statuses: list[int | None], oks: list[bool], sleeps: list[float]
) -> None:
    attempts, slept = post_all(answers, RETRY)
    assert [a.status_code for a in attempts] == statuses
    assert [a.ok for a in attempts] == oks
    assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
    assert [a.final for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert slept == sleeps


def test_errors_never_carry_secrets() -> None:
    attempts, _ = post_all([400], RETRY)
    assert attempts[0].error == "HTTP 400: echo ***"
