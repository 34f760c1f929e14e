"""The control channel's state: halts (the last applied; a resume lifts the halt it names),
approvals (the first signed decision in channel order stands), handoff answers (visible to
the sender), and what an agent keeps; the control log that carries them without Kafka.
Unsigned or wrongly signed entries are ignored and kept as forged."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handrail.control.follower import _apply
from handrail.control.log import ControlLog
from handrail.control.state import ControlState
from handrail.schemas import encode
from tests.support.samples import NOW, event_record
from tests.support.signers import authority, decision_fields, halt_fields, nonce_of, resume_fields


def at(seconds: float, kind: str, agent: str = "writer", **fields: Any) -> dict[str, Any]:
    record = event_record(kind, agent=agent, **fields)
    record["time"] = NOW + timedelta(seconds=seconds)
    return record


REQUESTS: dict[str, dict[str, Any]] = {}


def request(approval_id: str = "ap-1", agent: str = "writer") -> dict[str, Any]:
    """The approval request ``approval_id`` (the same record each time: decisions sign it)."""
    key = f"{approval_id}/{agent}"
    if key not in REQUESTS:
        REQUESTS[key] = at(0, "approval_requested", agent, approval_id=approval_id,
                           action="db.customers.write", reason="needs a human")  # fmt: skip
    return REQUESTS[key]


def decision(kind: str, approval_id: str = "ap-1", seconds: float = 5,
             signer: str = "alice") -> dict[str, Any]:  # fmt: skip
    if kind == "approval_expired":
        return at(seconds, kind, "writer", approval_id=approval_id)
    return at(seconds, kind, "handrail-cli", **decision_fields(kind, request(approval_id), signer))


@pytest.mark.parametrize(
    ("decisions", "state", "by"),
    [
        ([], "pending", None),
        (["approval_granted"], "granted", "alice"),
        (["approval_denied"], "denied", "alice"),
        (["approval_expired"], "expired", "writer"),
        (["approval_expired", "approval_granted"], "expired", "writer"),  # too late
        (["approval_granted", "approval_denied"], "granted", "alice"),  # first one stands
    ],
)
def test_an_approval_takes_its_first_decision(
    decisions: list[str], state: str, by: str | None
) -> None:
    control = ControlState(authority=authority())
    control.apply(request())
    for n, kind in enumerate(decisions):
        control.apply(decision(kind, seconds=5 - n))  # later in the channel, earlier clock
    approval = control.approvals["ap-1"]
    assert (approval.state, approval.decided_by) == (state, by)
    assert [a.approval_id for a in control.pending()] == (["ap-1"] if state == "pending" else [])


def test_a_decision_on_an_unknown_approval_is_ignored_and_a_repeat_request_too() -> None:
    control = ControlState(authority=authority())
    control.apply(decision("approval_granted", "ap-9"))
    control.apply(request("ap-1"))
    control.apply(decision("approval_denied", "ap-1"))
    control.apply(request("ap-1"))  # a replayed duplicate: still denied
    assert set(control.approvals) == {"ap-1"}
    assert control.approvals["ap-1"].state == "denied"


def test_an_agent_keeps_only_its_own_approvals_and_handoff_answers() -> None:
    control = ControlState("writer")
    control.apply(request("ap-1", "writer"))
    control.apply(request("ap-2", "other"))
    control.apply(at(1, "handoff_rejected", "analyst", handoff_id="h-1", from_agent="writer",
                     reason="no customer id",
                     checks=[{"name": "has_customer_id", "passed": False, "detail": None},
                             {"name": "not_empty", "passed": True, "detail": None}]))  # fmt: skip
    control.apply(at(2, "handoff_accepted", "analyst", handoff_id="h-2", from_agent="other"))
    assert set(control.approvals) == {"ap-1"}
    assert set(control.answers) == {"h-1"}
    answer = control.answers["h-1"]
    assert (answer.accepted, answer.receiver, answer.reason) == (False, "analyst", "no customer id")
    assert answer.failed_checks == ("has_customer_id",)


def test_a_halt_holds_until_the_resume_that_names_it_whatever_the_arrival_order() -> None:
    halt = at(10, "halt", "handrail-processors", **halt_fields("payer", "op-1", "retry storm"))
    resume = at(20, "resume", "handrail-cli",
                **resume_fields("payer", "op-1", nonce_of(halt)))  # fmt: skip
    for order in ([halt], [halt, resume], [resume, halt]):
        control = ControlState("payer", authority())
        for record in order:
            control.apply(record)
        why = control.halt("payer", "op-1")
        if order == [halt]:
            assert why is not None
            assert "operation op-1 of payer is halted: retry storm" in why
            assert control.halt("payer", "op-2") is None
        else:
            assert why is None


def test_the_control_log_returns_whole_entries_only(tmp_path: Path) -> None:
    log = ControlLog(tmp_path / "control.log")
    assert log.read(0) == ([], 0)
    values = [encode(request("ap-1")), encode(request("ap-2"))]
    log.append(values)
    got, offset = log.read(0)
    assert got == values
    assert offset == log.path.stat().st_size
    with log.path.open("ab") as f:  # a writer caught in the middle of an entry
        fcntl.flock(f, fcntl.LOCK_EX)  # (it holds the lock: the entry may still complete)
        f.write(log.path.read_bytes()[:20])
        f.flush()
        assert log.read(offset) == ([], offset)
    assert ControlLog(tmp_path / "control.log").read(0)[0] == values  # it never will


def test_settled_approvals_and_answers_are_forgotten_after_a_day_pending_ones_never() -> None:
    control = ControlState(authority=authority())
    control.apply(request("ap-pending"))
    for n in range(1500):  # a busy day: everything stays
        control.apply(request(f"ap-{n}"))
        control.apply(decision("approval_granted", f"ap-{n}", seconds=n))
        control.apply(at(n, "handoff_accepted", "reviewer", handoff_id=f"h-{n}", from_agent="w"))
    assert (len(control.approvals), len(control.answers)) == (1501, 1500)
    day = 24 * 3600
    for n in range(1500, 3100):  # the next day: the settled ones of yesterday go
        control.apply(at(day + n, "approval_requested", approval_id=f"ap-{n}",
                         action="db.customers.write", reason="needs a human"))  # fmt: skip
        control.apply(at(day + n, "handoff_accepted", "reviewer", handoff_id=f"h-{n}",
                         from_agent="w"))  # fmt: skip
    assert "ap-pending" in control.approvals
    assert "ap-0" not in control.approvals
    assert "h-0" not in control.answers
    assert {f"ap-{n}" for n in range(1500, 3100)} <= control.approvals.keys()
    assert {f"h-{n}" for n in range(1500, 3100)} <= control.answers.keys()


def test_an_entry_that_cannot_be_applied_never_stops_the_entries_after_it() -> None:
    """An approval request dated year 1 decodes, then raises as it is applied (its time
    less a day is out of range): the halt after it in the same poll is applied all the
    same (the whole poll was dropped, and read again only after a reconnect)."""
    poisoned = at(0, "approval_requested", approval_id="ap-1", action="x", reason="y")
    poisoned["time"] = datetime(1, 1, 1, tzinfo=UTC)
    real = at(1, "halt", "handrail-processors", **halt_fields("writer", None))
    control = ControlState("writer", authority())
    _apply(control, [(encode(poisoned), True), (encode(real), True)])
    assert control.halt("writer") is not None
