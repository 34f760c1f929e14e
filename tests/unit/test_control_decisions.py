"""What a person may sign (``control/decisions.py``), shared by the CLI and the console:
only a rule's approver decides a pending request, only a resumer lifts a halt in force,
always with a reason; the event carries exactly the signed decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handrail.control.decisions import DecisionRefusedError, on_approval, on_halt, payload
from handrail.governance.signing import Decision, sign, verify_signed
from handrail.schemas.models import ApprovalDenied, ApprovalGranted, Resume
from tests.support.control_records import at, state
from tests.support.samples import NOW
from tests.support.signers import authority, decision_fields, halt_fields, key


def _request(approval_id: str = "ap-1", action: str = "db.customers.write") -> dict:
    return at(NOW, "approval_requested", "writer", approval_id=approval_id, action=action,
              reason="needs a human")  # fmt: skip


def test_an_approver_decides_a_pending_request_and_nobody_else_does() -> None:
    control = state(_request())
    decision = on_approval(authority(), control, "ap-1", signer="alice", reason=" fine ",
                           grant=True)  # fmt: skip
    request = control.approvals["ap-1"]
    assert (decision.kind, decision.signer, decision.agent, decision.subject) == (
        "approval_granted", "alice", "writer", "ap-1")  # fmt: skip
    assert (decision.refers_to, decision.workflow_id, decision.reason) == (
        request.event_id, request.workflow_id, "fine")  # fmt: skip
    assert on_approval(authority(), control, "ap-1", signer="alice", reason="no",
                       grant=False).kind == "approval_denied"  # fmt: skip
    for signer in ("bob", "mallory", "writer", "nobody"):  # bob approves API calls only
        with pytest.raises(DecisionRefusedError, match="may not decide"):
            on_approval(authority(), control, "ap-1", signer=signer, reason="x", grant=True)


def test_a_decided_unknown_or_reasonless_request_is_refused() -> None:
    request = _request()
    granted = at(NOW + timedelta(seconds=1), "approval_granted", "handrail-cli",
                 **decision_fields("approval_granted", request, "alice"))  # fmt: skip
    with pytest.raises(DecisionRefusedError, match="already granted"):
        on_approval(authority(), state(request, granted), "ap-1", signer="alice", reason="x",
                    grant=False)  # fmt: skip
    with pytest.raises(DecisionRefusedError, match="no approval ap-2"):
        on_approval(authority(), state(request), "ap-2", signer="alice", reason="x", grant=True)
    for reason in ("", "   ", "x" * 2001):
        with pytest.raises(DecisionRefusedError, match="give a reason"):
            on_approval(authority(), state(request), "ap-1", signer="alice", reason=reason,
                        grant=True)  # fmt: skip


def test_only_a_resumer_lifts_a_halt_in_force() -> None:
    halt = at(NOW, "halt", "handrail-processors", **halt_fields("payer", None))
    control = state(halt)
    decision = on_halt(authority(), control, "payer", None, signer="alice", reason="fixed")
    assert (decision.kind, decision.agent, decision.subject) == ("resume", "payer", "")
    assert decision.refers_to == control.in_force(("payer", None)).nonce  # type: ignore[union-attr]
    with pytest.raises(DecisionRefusedError, match="bob may not lift"):
        on_halt(authority(), control, "payer", None, signer="bob", reason="fixed")
    with pytest.raises(DecisionRefusedError, match="other is not halted"):
        on_halt(authority(), control, "other", None, signer="alice", reason="fixed")
    with pytest.raises(DecisionRefusedError, match="operation op-1 of payer is not halted"):
        on_halt(authority(), control, "payer", "op-1", signer="alice", reason="fixed")


def test_the_event_carries_the_signed_decision_exactly() -> None:
    keys = authority().people_keys
    for kind, model in (("approval_granted", ApprovalGranted), ("approval_denied", ApprovalDenied),
                        ("resume", Resume)):  # fmt: skip
        decision = Decision(kind, "alice", "writer", "ap-1", "e-1", "because", "wf-1")  # type: ignore[arg-type]
        event = payload(decision, sign(decision, key("alice")))
        assert isinstance(event, model)
        assert verify_signed(event.signed, event.signature, keys) == decision  # type: ignore[union-attr]
    halt = Decision("halt", "alice", "writer", "", "", "no")
    with pytest.raises(DecisionRefusedError, match="does not sign a halt"):
        payload(halt, sign(halt, key("alice")))


def test_a_request_whose_id_or_action_holds_a_control_character_is_forged() -> None:
    """Written around the SDK: a page would show it as another request's id."""
    for approval_id, action in (("ap-1\nX", "api.search"), ("ap-1\rX", "api.search"),
                                ("ap-2", "db.customers.write\u2028")):  # fmt: skip
        control = state(_request(approval_id, action))
        assert approval_id not in control.approvals
        assert control.forged[-1].kind == "approval_requested"
        assert "control character" in control.forged[-1].reason
        with pytest.raises(DecisionRefusedError, match="no approval"):
            on_approval(authority(), control, approval_id, signer="alice", reason="x", grant=True)
