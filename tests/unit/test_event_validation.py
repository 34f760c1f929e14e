"""Validation at the SDK's boundary (issue 23, "Values the SDK accepts but cannot ship"):
each value the issue found accepted is refused at the call with ``InvalidEventError``
naming the event type and the field and never the value; the events around it ship; the
fast path refuses what validation refuses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.ingest_sql import TIME_RANGE_US as LEDGER_TIME_RANGE
from handrail.producers import HandoffRefusedError, HandoffTicket, InvalidEventError, Recorder
from handrail.producers.checks import EventChecks, payload_fields
from handrail.producers.exact_fields import exact
from handrail.producers.spool import read_all
from handrail.producers.validation import TIME_RANGE_US
from handrail.schemas.models import Heartbeat
from handrail.settings import AgentIdentity, EventLimits, ProducerSettings, Settings, SpoolSettings
from tests.unit.test_handoff_contracts import recorded, recorder

SURROGATE = json.loads('"\\ud800"')  # what model output decoded with json.loads can hold
SECRET = "sk-live-0123456789abcdef"
DEEP: list[Any] = []
_node = DEEP
for _ in range(5_000):
    _node.append([])
    _node = _node[0]


def settings(tmp_path: Path, **producer: Any) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp_path / "spool", control_log=tmp_path / "control.log"),
        producer=ProducerSettings(**producer),
    )


@pytest.fixture
def rec(tmp_path: Path) -> Iterator[Recorder]:
    r = Recorder(settings(tmp_path), AgentIdentity(name="agent"))
    yield r
    r.close()


Call = Callable[[Recorder], object]
REFUSED: dict[str, tuple[Call, str, str]] = {
    # case: (the call, the event type, the field)
    "NaN spend": (lambda r: r.spend(float("nan"), "p", "m"), "spend", "usd"),
    "infinite spend": (lambda r: r.spend(float("inf"), "p", "m"), "spend", "usd"),
    "negative spend": (lambda r: r.spend(-1000.0, "p", "m"), "spend", "usd"),
    "negative int spend": (lambda r: r.spend(-1000, "p", "m"), "spend", "usd"),  # type: ignore[arg-type]
    "NaN as text": (lambda r: r.spend("nan", "p", "m"), "spend", "usd"),  # type: ignore[arg-type]
    "negative tokens": (
        lambda r: r.spend(1.0, "p", "m", input_tokens=-1), "spend", "input_tokens"
    ),
    "tokens past a long": (
        lambda r: r.spend(1.0, "p", "m", output_tokens=2**63), "spend", "output_tokens"
    ),
    "NaN cost": (
        lambda r: r.policy_verdict("a", "allow", "r", "x", cost_usd=float("nan")),
        "policy_verdict", "cost_usd",
    ),
    "negative attempt": (lambda r: r.retry("api", "op", -5, "x"), "retry", "attempt"),
    "attempt below a long": (lambda r: r.retry("api", "op", -(2**63) - 1, "x"), "retry", "attempt"),
    "attempt past an Avro int": (  # the schema writes attempt as a 32-bit int
        lambda r: r.policy_verdict("a", "allow", "r", "x", attempt=2**31),
        "policy_verdict", "attempt",
    ),
    "negative duration": (
        lambda r: r.action_executed("a", duration_ms=-1.0), "action_executed", "duration_ms"
    ),
    "lone surrogate": (lambda r: r.decision("a", "ok " + SURROGATE), "decision_made", "rationale"),
    "surrogate in a check": (
        lambda r: r.decision("a", "x", checks=[{"name": SURROGATE, "passed": True}]),
        "decision_made", "checks.0.name",
    ),
    "surrogate in an alternative": (
        lambda r: r.decision("a", "x", alternatives=["b", SURROGATE]),
        "decision_made", "alternatives.1",
    ),
    "empty action": (lambda r: r.decision("", "x"), "decision_made", "action"),
    "1 MB rationale": (lambda r: r.decision("a", "x" * (1 << 20)), "decision_made", "rationale"),
    "NUL in an action": (lambda r: r.decision("db\x00write", "x"), "decision_made", "action"),
    "escape in an identifier": (
        lambda r: r.escalation("x", "ops\x1b[31m"), "escalation", "to"
    ),
    "NUL in free text": (lambda r: r.decision("a", "x\x00y"), "decision_made", "rationale"),
    "deadline in 1900": (
        lambda r: r.handoff_offered("b", "t", deadline=datetime(1900, 1, 1, tzinfo=UTC)),
        "handoff_offered", "deadline",
    ),
    "deadline in 3000": (
        lambda r: r.handoff_offered("b", "t", deadline=datetime(3000, 1, 1, tzinfo=UTC)),
        "handoff_offered", "deadline",
    ),
    "naive deadline": (
        lambda r: r.handoff_offered("b", "t", deadline=datetime(2030, 1, 1)),
        "handoff_offered", "deadline",
    ),
    "NaN heartbeat interval": (
        lambda r: r.heartbeat(interval_s=float("nan")), "heartbeat", "interval_s"
    ),
    "zero heartbeat interval": (lambda r: r.heartbeat(interval_s=0.0), "heartbeat", "interval_s"),
    "caused_by not an event id": (
        lambda r: r.decision("a", "x", caused_by="not-an-event"), "decision_made", "caused_by"
    ),
    "caused_by not a string": (
        lambda r: r.decision("a", "x", caused_by=42),  # type: ignore[arg-type]
        "decision_made", "caused_by",
    ),
    "100 KB workflow id": (
        lambda r: r.record(Heartbeat(), workflow_id="w" * 100_000), "heartbeat", "workflow_id"
    ),
    "NUL in a workflow id": (
        lambda r: r.record(Heartbeat(), workflow_id="wf\x00"), "heartbeat", "workflow_id"
    ),
    "surrogate in a label": (
        lambda r: r.record(Heartbeat(), labels={"tenant": SURROGATE}), "heartbeat", "labels"
    ),
    "labels not a mapping": (
        lambda r: r.record(Heartbeat(), labels=[("k", "v")]),  # type: ignore[arg-type]
        "heartbeat", "labels",
    ),
    "payload nested 5,000 deep": (
        lambda r: r.handoff_offered("b", "t", payload=DEEP), "handoff_offered", "payload"
    ),
    "surrogate payload": (
        lambda r: r.handoff_offered("b", "t", payload=SURROGATE), "handoff_offered", "payload"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_value_the_sdk_cannot_ship_is_refused_at_the_call(
    case: str, tmp_path: Path, rec: Recorder
) -> None:
    call, tag, field = REFUSED[case]
    with pytest.raises(InvalidEventError) as caught:
        call(rec)
    message = str(caught.value)
    assert f"invalid {tag} event" in message
    assert field in message
    assert "xxxxxxxx" not in message
    assert "wwwwwwww" not in message
    assert SURROGATE not in message
    assert "\x00" not in message
    assert rec.stats().accepted == 0


def test_the_message_never_repeats_the_value(rec: Recorder) -> None:
    with pytest.raises(InvalidEventError) as caught:
        rec.spend(SECRET, "p", "m")  # type: ignore[arg-type]
    assert "spend" in str(caught.value)
    assert "usd" in str(caught.value)
    assert "sk-live" not in str(caught.value)
    with pytest.raises(InvalidEventError) as caught:
        rec.decision(SECRET + "\x00", "x")
    assert "0123456789" not in str(caught.value)


@pytest.mark.parametrize("shipper", ["thread", "process"])
def test_the_events_after_a_refused_one_ship(tmp_path: Path, shipper: str) -> None:
    """The issue's run: one good event, one with a lone surrogate, ten good ones. The
    thread shipper delivered 1 of 12, the process shipper made one undecodable block of
    all 12; now the bad one is refused at the call and the eleven others reach the spool."""
    with Recorder(settings(tmp_path, shipper=shipper), AgentIdentity(name="agent")) as rec:
        good = [rec.decision("a", "first").event_id]
        with pytest.raises(InvalidEventError):
            rec.decision("a", SURROGATE)
        good += [rec.decision("a", f"then {i}").event_id for i in range(10)]
        assert rec.flush(10)
    assert [str(e["event_id"]) for e in read_all(tmp_path / "spool")] == good


def test_free_text_keeps_tabs_and_newlines_and_unicode(tmp_path: Path, rec: Recorder) -> None:
    text = "line one\n\tline two\r\nemoji \U0001f9d1\u200d\U0001f4bb, RTL \u200f\u05e9"
    rec.decision("db.write", text, checks=[{"name": "ok", "passed": True, "detail": text}])
    assert rec.flush(10)
    (event,) = read_all(tmp_path / "spool")
    assert event["payload"][1]["rationale"] == text


def test_limits_are_settings(tmp_path: Path) -> None:
    limits = EventLimits(max_identifier_chars=64, max_text_chars=8_192, max_event_chars=65_536)
    with Recorder(settings(tmp_path, limits=limits), AgentIdentity(name="a")) as r:
        r.decision("a" * 64, "x" * 8_192)
        with pytest.raises(InvalidEventError, match="action: longer than 64"):
            r.decision("a" * 65, "x")
        with pytest.raises(InvalidEventError, match="rationale: longer than 8192"):
            r.decision("a", "x" * 8_193)
        with pytest.raises(InvalidEventError, match="decision_made event: alternatives: more"):
            r.decision("a", "x", alternatives=["y"] * 1001)
        with pytest.raises(InvalidEventError, match=r"\(event\): its strings hold more than 65536"):
            r.decision("a", "x" * 8_192, alternatives=["y" * 8_192] * 7)


def test_an_agent_identity_and_session_labels_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidEventError, match="agent identity: name: a control"):
        Recorder(settings(tmp_path), AgentIdentity(name="agent\n"))
    with pytest.raises(InvalidEventError, match="labels: a value: a lone surrogate"):
        Recorder(settings(tmp_path, labels={"env": SURROGATE}), AgentIdentity(name="a"))


def test_a_ticket_from_another_process_is_checked() -> None:
    good = {"handoff_id": "h", "workflow_id": "wf", "from_agent": "a", "to_agent": "b",
            "task": "t", "offer_event_id": "0190a5a0-0000-8000-8000-000000000001"}  # fmt: skip
    HandoffTicket.model_validate(good)
    for change in ({"offer_event_id": "x"}, {"workflow_id": "w\x00"}, {"handoff_id": ""}):
        with pytest.raises(ValueError, match="invalid handoff ticket") as caught:
            HandoffTicket.model_validate({**good, **change})
        assert "\x00" not in str(caught.value)


def test_a_scope_parent_must_be_an_event_id(rec: Recorder) -> None:
    with pytest.raises(InvalidEventError, match="parent is not an event id"):
        rec.within(rec.decision("a", "x")._replace(event_id="forged"))


FAST = {
    "spend": {"usd": 1.0, "provider": "p", "model": "m", "input_tokens": 1,
              "output_tokens": 1, "action": None},
    "decision_made": {"action": "a", "rationale": "r", "resource": None, "inputs": (),
                      "checks": ({"name": "c", "passed": True, "detail": None},),
                      "alternatives": ("b",)},
    "heartbeat": {"status": None, "interval_s": 5.0},
    "policy_verdict": {"action": "a", "effect": "allow", "rule": "r", "reason": "x",
                       "resource": None, "mode": "enforce", "cost_usd": 1.0, "attempt": 0},
}  # fmt: skip
BROKEN = [
    ("spend", "usd", float("nan")), ("spend", "usd", -0.5), ("spend", "usd", float("-inf")),
    ("spend", "input_tokens", -1), ("spend", "output_tokens", 2**63),
    ("policy_verdict", "attempt", 2**31), ("policy_verdict", "cost_usd", float("nan")),
    ("spend", "provider", SURROGATE), ("spend", "model", "m\x00"), ("spend", "action", ""),
    ("spend", "provider", "p" * 5000), ("heartbeat", "interval_s", 0.0),
    ("decision_made", "rationale", "r" * 70_000), ("decision_made", "alternatives", ("\x07",)),
    ("decision_made", "checks", ({"name": "", "passed": True},)),
    ("decision_made", "checks", ({"name": "c", "passed": True, "detail": SURROGATE},)),
    ("decision_made", "alternatives", ("b",) * 1001),
]  # fmt: skip


@pytest.mark.parametrize(("tag", "field", "value"), BROKEN)
def test_the_fast_path_refuses_what_validation_refuses(tag: str, field: str, value: Any) -> None:
    assert exact(tag)(dict(FAST[tag])) is not None  # the plain call takes the fast path
    broken = {**FAST[tag], field: value}
    assert exact(tag)(dict(broken)) is None
    with pytest.raises(InvalidEventError, match=f"invalid {tag} event: {field}"):
        payload_fields(tag, **broken)


def test_default_checks_and_a_recorders_agree() -> None:
    assert EventChecks().limits == EventLimits()


def test_the_time_range_is_the_ledgers() -> None:
    assert TIME_RANGE_US == LEDGER_TIME_RANGE


HOSTILE_PAYLOAD = {"customer_id": ["\x00\x1b[2J" + SURROGATE + "x" * 70_000], "summary": "s"}


def test_a_hostile_payload_is_refused_and_recorded_never_raised(tmp_path: Path) -> None:
    """The contract's problems quote the payload (NUL, escapes, a surrogate, 70,000
    characters): the refusal is recorded with a clipped, clean reason, and the receiver's
    checks may fail the same way without ``accept`` raising."""
    with recorder(tmp_path, "summarizer") as sender, recorder(tmp_path, "analyst") as receiver:
        with pytest.raises(HandoffRefusedError):
            sender.handoff("analyst", "analyse", HOSTILE_PAYLOAD)
        ticket = sender.handoff("analyst", "analyse", {"customer_id": "C1", "summary": "s"})
        checks = {"has_customer_id": lambda p: p["customer_id"],
                  "summary_not_empty": lambda p: 1 / 0 if p else "\x00" * 70_000}  # fmt: skip
        got = receiver.accept(ticket, HOSTILE_PAYLOAD, checks=checks)
    assert not got
    ((kind, verdict), _) = recorded(tmp_path, "summarizer")
    assert kind == "policy_verdict"
    assert verdict["reason"].startswith("customer_id: ")
    assert len(verdict["reason"]) <= 8_000
    assert all(len(c["detail"] or "") <= 1_000 for c in got.checks)


def test_a_payload_nested_5000_deep_is_refused_and_recorded(tmp_path: Path) -> None:
    """Through the governance file too: the contract's validators recursed (RecursionError
    at the sender's ``handoff``, the receiver's ``accept``)."""
    with recorder(tmp_path, "summarizer") as sender, recorder(tmp_path, "analyst") as receiver:
        with pytest.raises(HandoffRefusedError, match="nested deeper than 64 levels"):
            sender.handoff("analyst", "analyse", DEEP)
        ticket = sender.handoff("analyst", "analyse", {"customer_id": "C1", "summary": "s"})
        got = receiver.accept(ticket, DEEP, checks={"has_customer_id": bool,
                                                    "summary_not_empty": bool})  # fmt: skip
    assert not got
    assert got.checks[0]["name"] == "payload_sha256"
    assert "nested deeper than 64 levels" in got.checks[0]["detail"]
