"""Signed halts and resumes: the control state acts on a halt only when a processor signed
it and it came on the halts topic, and on a resume only when a resumer signed it for that
halt's target and operation; replays, copies and forged dates change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handrail.control.state import ControlState
from handrail.governance import parse
from handrail.governance.authority import Authority
from handrail.governance.signing import Decision
from tests.support.control_records import at, state
from tests.support.samples import NOW
from tests.support.signers import (
    PROCESSOR,
    authority,
    governance_yaml,
    halt_fields,
    nonce_of,
    resume_fields,
    signed,
)


def halt(when: datetime, operation: str | None = "op-1", **changes: Any) -> dict[str, Any]:
    return at(when, "halt", PROCESSOR, **(halt_fields("payer", operation) | changes))


def resume(when: datetime, lifts: dict[str, Any], signer: str = "alice",
           **changes: Any) -> dict[str, Any]:  # fmt: skip
    p = lifts["payload"][1]
    fields = resume_fields("payer", p["operation_id"], nonce_of(lifts), signer)
    return at(when, "resume", "handrail-cli", **(fields | changes))


def test_a_resume_dated_2299_does_not_lift_a_halt_raised_later() -> None:
    y2299 = datetime(2299, 1, 1, tzinfo=UTC)
    first = halt(NOW)
    forged = at(y2299, "resume", "handrail-cli", scope="operation", target_agent="payer",
                operation_id="op-1", reason="forged", by="alice")  # fmt: skip
    control = state(first, forged, resume(y2299, first), halt(NOW + timedelta(seconds=5)))
    assert control.halt("payer", "op-1") is not None  # the later halt stands
    assert [f.reason for f in control.forged] == ["unsigned"]


def test_halts_must_be_signed_by_a_processor_and_resumes_by_a_resumer() -> None:
    real = halt(NOW)
    by_person = at(NOW, "halt", PROCESSOR,
                   **(halt_fields("payer", "op-2") | signed(Decision(
                       "halt", "alice", "payer", "op-2", "storm", "storm"))))  # fmt: skip
    unsigned = at(NOW, "halt", PROCESSOR, scope="agent", target_agent="payer",
                  operation_id=None, reason="storm", alert_dedup_key=None)  # fmt: skip
    control = state(real, by_person, unsigned, resume(NOW, real, "bob"),
                    resume(NOW, real, "mallory"))  # fmt: skip
    assert control.halt("payer", "op-1") is not None
    assert control.halt("payer", "op-2") is None
    assert control.halt("payer") is None
    assert [f.reason for f in control.forged] == [
        "'alice' has no public key in the governance file",  # people do not sign halts
        "unsigned",
        "'bob' may not lift halts of payer",
        "'mallory' may not lift halts of payer",
    ]
    control.apply(resume(NOW, real))
    assert control.halt("payer", "op-1") is None


def test_a_replayed_halt_does_not_halt_again() -> None:
    first = halt(NOW)
    copy = dict(first, event_id="5f0e8c6e-0000-4000-8000-000000000000")
    control = state(first, resume(NOW, first), copy)
    assert control.halt("payer", "op-1") is None


def test_a_resume_signed_for_one_operation_does_not_lift_another() -> None:
    op1, op2 = halt(NOW, "op-1"), halt(NOW, "op-2")
    lift_op1 = resume(NOW, op1)
    moved = dict(lift_op1)
    moved["payload"] = (lift_op1["payload"][0], {**lift_op1["payload"][1], "operation_id": "op-2"})
    control = state(op1, op2, moved)
    assert control.halt("payer", "op-2") is not None
    assert [f.reason for f in control.forged] == ["signed for another subject"]


def test_a_resume_lifts_only_a_halt_of_the_target_it_names() -> None:
    """bob may lift payer's halts only: his signed resume of payer naming writer's halt
    leaves writer halted (the old state lifted whatever halt id a permitted resume named,
    whatever its target)."""
    text = governance_yaml().replace("  payer: {owner: team}",
                                     "  payer: {owner: team, resumers: [bob]}")  # fmt: skip
    control = ControlState(None, Authority(parse(text)))
    writers = at(NOW, "halt", PROCESSOR, **halt_fields("writer", None))
    control.apply(writers)
    fields = resume_fields("payer", None, nonce_of(writers), "bob")
    control.apply(at(NOW + timedelta(seconds=1), "resume", "handrail-cli", **fields))
    assert control.halt("writer") is not None
    assert control.halt("payer") is None


def test_a_copy_of_a_halt_under_a_lifted_halts_event_id_stays_in_force() -> None:
    """A halt's event id is not signed: a copy of a new halt given the id of one a resume
    lifted is the new halt, in force (the old state took it as lifted, and dropped the real
    one after it as a copy)."""
    first = halt(NOW)
    second = halt(NOW + timedelta(seconds=5))
    copy = {**second, "event_id": first["event_id"]}
    control = state(first, resume(NOW + timedelta(seconds=1), first), copy, second)
    assert control.halt("payer", "op-1") is not None


def test_a_halt_off_the_halts_topic_is_ignored_and_kept_as_forged() -> None:
    """On Kafka halts and resumes travel on the halts topic; a processor-signed halt
    copied onto the control topic (which agents write) counts for nothing there."""
    control = ControlState(None, authority())
    control.apply(halt(NOW), halts=False)
    assert control.halt("payer", "op-1") is None
    assert [f.reason for f in control.forged] == ["a halt or resume off the halts topic"]
