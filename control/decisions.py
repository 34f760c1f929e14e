"""What a person may sign (pure): the decision a signer makes on an approval request or a
halt, refused unless the governance file gives them that right, and the event that carries
it once signed. ``handrail approvals``, ``handrail resume`` and the console share it."""

from __future__ import annotations

from handrail.control.state import ControlState
from handrail.errors import HandrailError
from handrail.governance.authority import Authority
from handrail.governance.signing import Decision, DecisionKind, encode_signature
from handrail.schemas.models import ApprovalDenied, ApprovalGranted, Payload, Resume

MAX_REASON = 2000
"""Longest reason a person may give (characters)."""


class DecisionRefusedError(HandrailError):
    """The signer may not make this decision now; the message says why."""


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise DecisionRefusedError(f"give a reason (1 to {MAX_REASON} characters): it is recorded")
    return reason


def on_approval(
    authority: Authority, state: ControlState, approval_id: str, *, signer: str, reason: str,
    grant: bool,
) -> Decision:  # fmt: skip
    """``signer``'s grant or denial of a pending approval request."""
    request = state.approvals.get(approval_id)
    if request is None:
        raise DecisionRefusedError(f"no approval {approval_id} was requested")
    if request.state != "pending":
        raise DecisionRefusedError(f"approval {approval_id} is already {request.state} "
                              f"(by {request.decided_by}: {request.decision_reason})")  # fmt: skip
    approvers = authority.approvers(request.agent, request.action, request.resource,
                                    request.cost_usd)  # fmt: skip
    if signer not in approvers:
        raise DecisionRefusedError(f"{signer} may not decide {request.agent}'s {request.action} "
                              "(the rule's `approval.approvers`)")  # fmt: skip
    kind: DecisionKind = "approval_granted" if grant else "approval_denied"
    return Decision(kind, signer, request.agent, approval_id, request.event_id, _reason(reason),
                    request.workflow_id)  # fmt: skip


def on_halt(
    authority: Authority, state: ControlState, agent: str, operation: str | None, *,
    signer: str, reason: str,
) -> Decision:  # fmt: skip
    """``signer``'s lifting of the halt in force on ``agent`` (or one of its operations)."""
    if signer not in authority.resumers(agent):
        raise DecisionRefusedError(f"{signer} may not lift halts of {agent} (`halts.resumers`, "
                              f"`agents.{agent}.resumers`)")  # fmt: skip
    halt = state.in_force((agent, operation))
    if halt is None:
        what = f"operation {operation} of {agent}" if operation else agent
        raise DecisionRefusedError(f"{what} is not halted")
    return Decision("resume", signer, agent, operation or "", halt.nonce, _reason(reason))


def payload(decision: Decision, signature: bytes) -> Payload:
    """The event that carries ``decision`` and its signature."""
    signed = {"signed": decision.canonical(), "signature": encode_signature(signature)}
    if decision.kind == "resume":
        return Resume(scope="operation" if decision.subject else "agent",
                      target_agent=decision.agent, operation_id=decision.subject or None,
                      reason=decision.reason, by=decision.signer, **signed)  # fmt: skip
    if decision.kind not in ("approval_granted", "approval_denied"):
        raise DecisionRefusedError(f"a person does not sign a {decision.kind}")
    kind = ApprovalGranted if decision.kind == "approval_granted" else ApprovalDenied
    return kind(approval_id=decision.subject, approver=decision.signer, reason=decision.reason,
                **signed)  # fmt: skip
