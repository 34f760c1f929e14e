"""The alert router against a real HTTP receiver, recording through a real ``Recorder``
(embedded: no Kafka, the spool) whose events are read back from the spool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handrail.processors.router import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertRouter,
    DeliveryAttempt,
    MemoryRecorder,
    RouterSettings,
    StateEntry,
    verify_signature,
)
from handrail.processors.router.recording import DeliveryRecorder
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.support.receiver import Receiver
from tests.support.samples import event_record

ROUTING_KEY = "R0UTINGKEY0000000000000000000000"
SLACK_PATH = "/services/T000/B000/SLACKSECRET"
HMAC_SECRET = "hmac-secret"
KEY = "retry_storm:a:op-1"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def recorder(spool_dir: Path) -> Iterator[Recorder]:
    settings = Settings(spool=SpoolSettings(dir=spool_dir))
    with Recorder(settings, AgentIdentity(name="handrail-router", owner="team-sre")) as rec:
        yield rec


def router_settings(rx: Receiver, **retry: Any) -> RouterSettings:
    return RouterSettings.model_validate(
        {
            "channels": {
                "pd": {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": rx.url("/pd")},
                "slack": {
                    "type": "slack",
                    "webhook_url": rx.url(SLACK_PATH),
                    "label": "#data-alerts",
                },
                "hook": {"type": "webhook", "url": rx.url("/hook"), "secret": HMAC_SECRET},
                "tty": {"type": "terminal"},
            },
            "routes": [
                {"owner": "team-data", "min_severity": "critical", "channels": ["pd", "slack"]},
                {"owner": "team-hooks", "channels": ["hook"]},
            ],
            "default": ["tty"],
            "retry": {
                "max_attempts": 3,
                "initial_backoff_s": 0.01,
                "jitter": 0,
                "timeout_s": 2,
                **retry,
            },
        }
    )


def handle(
    settings: RouterSettings,
    recorder: DeliveryRecorder,
    *records: dict[str, Any],
    state: dict[str, StateEntry] | None = None,
) -> list[list[DeliveryAttempt]]:
    async def main() -> list[list[DeliveryAttempt]]:
        async with AlertRouter(settings, recorder, {} if state is None else state) as router:
            return [await router.handle(record) for record in records]

    return asyncio.run(main())


def delivered(recorder: Recorder, spool_dir: Path) -> list[dict[str, Any]]:
    """The alert_delivered events the recorder wrote, as records, in order."""
    assert recorder.flush(5)
    records = [r for r in read_all(spool_dir) if event_type(r) == "alert_delivered"]
    return sorted(records, key=lambda r: r["sequence"])


def test_trigger_and_resolve_reach_pagerduty_and_slack(
    receiver: Receiver, recorder: Recorder, spool_dir: Path
) -> None:
    raised, resolved = event_record("alert_raised"), event_record("alert_resolved")
    outcomes = handle(router_settings(receiver), recorder, raised, resolved)

    assert [[(a.channel, a.ok) for a in o] for o in outcomes] == [
        [("pd", True), ("slack", True)],
        [("pd", True), ("slack", True)],
    ]
    pd = [r.json for r in receiver.wait_for("/pd", 2)]
    assert [(b["event_action"], b["dedup_key"], b["routing_key"]) for b in pd] == [
        ("trigger", KEY, ROUTING_KEY),
        ("resolve", KEY, ROUTING_KEY),
    ]
    assert pd[0]["payload"]["severity"] == "critical"
    assert pd[0]["payload"]["custom_details"]["evidence"] == ["e1", "e2"]
    slack = [r.json for r in receiver.wait_for(SLACK_PATH, 2)]
    assert slack[0]["text"].startswith("CRITICAL retry_storm (team-data)")
    assert slack[1]["text"].startswith("RESOLVED retry_storm (team-data)")

    events = delivered(recorder, spool_dir)
    assert len(events) == 4
    causes = [e["causation_id"] for e in events]
    assert causes == [raised["event_id"]] * 2 + [resolved["event_id"]] * 2
    assert {e["workflow_id"] for e in events} == {"wf"}
    assert {e["agent"]["name"] for e in events} == {"handrail-router"}
    fields = [e["payload"][1] for e in events]
    assert {(f["channel"], f["target"]) for f in fields} == {
        ("pagerduty", f"pd@127.0.0.1:{receiver.port}/pd"),
        ("slack", "slack@#data-alerts"),
    }
    assert all(f["ok"] and f["status_code"] == 200 and f["attempt"] == 1 for f in fields)


def test_a_repeat_raise_is_suppressed(receiver: Receiver) -> None:
    recorder = MemoryRecorder()
    outcomes = handle(
        router_settings(receiver),
        recorder,
        event_record("alert_raised"),
        event_record("alert_raised"),
    )
    assert [len(o) for o in outcomes] == [2, 0]
    receiver.wait_for("/pd", 1)
    time.sleep(0.1)
    assert len(receiver.requests("/pd")) == len(receiver.requests(SLACK_PATH)) == 1
    assert len(recorder.events) == 2


def test_a_500_then_success_is_retried_and_both_attempts_recorded(
    receiver: Receiver, recorder: Recorder, spool_dir: Path
) -> None:
    receiver.fail_next("/pd", 1, 500)
    raised = event_record("alert_raised")
    [attempts] = handle(router_settings(receiver), recorder, raised)

    pd = [a for a in attempts if a.channel == "pd"]
    assert [(a.attempt, a.ok, a.status_code) for a in pd] == [(1, False, 500), (2, True, 200)]
    first, second = receiver.wait_for("/pd", 2)
    assert first.json == second.json  # the same event, sent again
    assert second.time > first.time

    events = [e["payload"][1] for e in delivered(recorder, spool_dir)]
    pd_events = [
        (e["attempt"], e["ok"], e["status_code"]) for e in events if e["channel"] == "pagerduty"
    ]
    assert pd_events == [(1, False, 500), (2, True, 200)]
    assert next(e for e in events if not e["ok"])["error"].startswith("HTTP 500")


def test_a_400_is_not_retried(receiver: Receiver, recorder: Recorder, spool_dir: Path) -> None:
    receiver.fail_next("/pd", 1, 400, body=b'{"status": "invalid event"}')
    state: dict[str, StateEntry] = {}
    [attempts] = handle(
        router_settings(receiver), recorder, event_record("alert_raised"), state=state
    )

    assert [(a.attempt, a.ok, a.status_code) for a in attempts if a.channel == "pd"] == [
        (1, False, 400)
    ]
    time.sleep(0.1)
    assert len(receiver.requests("/pd")) == 1
    assert state[KEY]["open"] == ["slack"]  # PagerDuty did not take it: not open there
    [event] = [e["payload"][1] for e in delivered(recorder, spool_dir) if not e["payload"][1]["ok"]]
    assert event["error"] == 'HTTP 400: {"status": "invalid event"}'

    # the next raise of the key goes to PagerDuty only, and lands
    [again] = handle(router_settings(receiver), recorder, event_record("alert_raised"), state=state)
    assert [(a.channel, a.ok) for a in again] == [("pd", True)]


def test_429_is_retried_after_the_servers_pause(receiver: Receiver) -> None:
    receiver.fail_next("/pd", 1, 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    [attempts] = handle(router_settings(receiver), MemoryRecorder(), event_record("alert_raised"))
    assert [(a.status_code, a.ok) for a in attempts if a.channel == "pd"] == [
        (429, False),
        (200, True),
    ]
    assert time.monotonic() - started >= 0.9


def test_a_timeout_is_retried(receiver: Receiver) -> None:
    receiver.stall_next("/pd", 1, 1.0)
    [attempts] = handle(
        router_settings(receiver, timeout_s=0.2), MemoryRecorder(), event_record("alert_raised")
    )
    pd = [a for a in attempts if a.channel == "pd"]
    assert [(a.ok, a.status_code) for a in pd] == [(False, None), (True, 200)]
    assert pd[0].error is not None
    assert pd[0].error.startswith("ReadTimeout")


def test_an_unreachable_endpoint_gives_up_after_max_attempts(receiver: Receiver) -> None:
    settings = router_settings(receiver)
    receiver.stop()  # nothing listens on that port any more
    recorder = MemoryRecorder()
    state: dict[str, StateEntry] = {}
    [attempts] = handle(settings, recorder, event_record("alert_raised"), state=state)
    assert [(a.channel, a.attempt, a.ok) for a in attempts] == [
        ("pd", 1, False),
        ("pd", 2, False),
        ("pd", 3, False),
        ("slack", 1, False),
        ("slack", 2, False),
        ("slack", 3, False),
    ]
    assert all(a.error and a.error.startswith("ConnectError") for a in attempts)
    assert len(recorder.events) == 6
    assert state == {}


def test_the_webhook_signature_verifies(receiver: Receiver) -> None:
    raised = event_record("alert_raised", owner="team-hooks", severity="warning")
    handle(router_settings(receiver), MemoryRecorder(), raised, event_record("alert_resolved"))
    trigger, resolve = receiver.wait_for("/hook", 2)
    for request in (trigger, resolve):
        timestamp = request.header(TIMESTAMP_HEADER)
        signature = request.header(SIGNATURE_HEADER)
        assert timestamp is not None
        assert signature is not None
        assert signature.startswith("sha256=")
        assert verify_signature(HMAC_SECRET, request.body, timestamp, signature, now=time.time())
        assert not verify_signature("wrong", request.body, timestamp, signature, now=time.time())
    assert trigger.json["action"] == "trigger"
    assert trigger.json["event_id"] == raised["event_id"]
    assert trigger.json["alert"]["severity"] == "warning"
    assert resolve.json["action"] == "resolve"
    assert trigger.header("content-type") == "application/json"


def test_recorded_targets_and_errors_carry_no_secrets(
    receiver: Receiver, recorder: Recorder, spool_dir: Path
) -> None:
    receiver.fail_next(SLACK_PATH, 1, 404, body=f"no such hook {SLACK_PATH}".encode())
    receiver.fail_next("/pd", 1, 400, body=f"bad key {ROUTING_KEY}".encode())
    handle(router_settings(receiver), recorder, event_record("alert_raised"))
    text = repr(delivered(recorder, spool_dir))
    assert "SLACKSECRET" not in text
    assert ROUTING_KEY not in text
    assert "no such hook ***" in text
