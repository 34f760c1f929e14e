"""Handoffs under the governance file, mixed into ``Recorder``.

* The sender's ``handoff(to, task, payload)`` finds the declared edge and checks the
  payload against its contract before anything is sent. An undeclared edge or a payload
  that does not conform is refused: a ``policy_verdict`` (deny, naming the edge and the
  problems) is recorded and ``HandoffRefusedError`` raised; in shadow mode the verdict is
  recorded and the handoff goes on.
* The receiver's ``accept(ticket, payload, checks=...)`` runs the payload's integrity
  check, the contract and every check the edge declares (the receiver implements them),
  and records ``handoff_accepted`` or ``handoff_rejected`` with each check's outcome. A
  rejection on an ``on_reject: escalate`` edge also records an escalation to the owner.
* The answer reaches the sender's process on the control channel:
  ``handoff_outcome(ticket, timeout)``. On ``return_to_sender`` the sender redoes the
  work; on ``compensate`` it undoes what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from handrail.control.state import HandoffAnswer
from handrail.governance.model import HandoffDecl, OnReject
from handrail.producers.contracts import (
    CheckFn,
    conform,
    contract_name,
    edge,
    integrity,
    run_checks,
)
from handrail.producers.errors import HandoffRefusedError
from handrail.producers.handoff import HandoffTicket
from handrail.producers.refs import EventRef
from handrail.producers.validation import safe_text

if TYPE_CHECKING:
    from handrail.producers.authorize import Authorizer


@dataclass(frozen=True, slots=True)
class Received:
    """What ``accept`` decided."""

    accepted: bool
    payload: Any
    """As the contract gives it: a model instance for a model contract."""
    checks: list[dict[str, Any]]
    on_reject: OnReject | None
    event: EventRef

    @property
    def failed(self) -> list[str]:
        return [c["name"] for c in self.checks if not c["passed"]]

    def __bool__(self) -> bool:
        return self.accepted


class GovernedHandoffs:
    """Mixed into ``Recorder``, which provides these."""

    agent: Any
    handoff_offered: Callable[..., HandoffTicket]
    handoff_accepted: Callable[..., EventRef]
    handoff_rejected: Callable[..., EventRef]
    policy_verdict: Callable[..., EventRef]
    escalation: Callable[..., EventRef]

    if TYPE_CHECKING:

        @property
        def authorizer(self) -> Authorizer: ...

    def handoff(
        self,
        to_agent: str,
        task: str,
        payload: Any,
        *,
        payload_ref: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> HandoffTicket:
        """Offer work to another agent over a declared edge, once its payload conforms to
        the edge's contract; give the receiver the ticket and the payload."""
        authorizer, sender = self.authorizer, self.agent.name
        decl = edge(authorizer.governance, sender, to_agent)
        problems = _problems(decl, payload, sender, to_agent)
        if problems:
            action, rule = f"handoff:{to_agent}", f"handoff:{sender}->{to_agent}"
            reason = safe_text("; ".join(problems), 8_000)  # (each problem is safe text)
            self.policy_verdict(action, "deny", rule, reason, mode=authorizer.mode,
                                caused_by=caused_by)  # fmt: skip
            if authorizer.mode == "enforce":
                raise HandoffRefusedError(f"handoff {sender} -> {to_agent} refused: {reason}")
        deadline = None if decl is None else datetime.now(UTC) + timedelta(seconds=decl.deadline_s)
        contract = None if decl is None or decl.contract is None else contract_name(decl.contract)
        return self.handoff_offered(
            to_agent, task, payload=payload, payload_ref=payload_ref, contract=contract,
            deadline=deadline, caused_by=caused_by,
        )  # fmt: skip

    def accept(
        self, ticket: HandoffTicket, payload: Any, *, checks: Mapping[str, CheckFn] = {}
    ) -> Received:
        """Check handed-off work and take it or refuse it (recorded either way): the payload's
        integrity, the edge's contract, then its declared checks (each implemented in
        ``checks``, given the payload as the contract gives it)."""
        decl = edge(self.authorizer.governance, ticket.from_agent, self.agent.name)
        declared = decl.checks if decl is not None else ()
        results = (
            [] if ticket.payload_sha256 is None else [integrity(payload, ticket.payload_sha256)]
        )
        if decl is not None and decl.contract is not None:
            payload, problems = conform(decl.contract, payload)
            results.append({"name": "contract", "passed": not problems,
                            "detail": "; ".join(problems) or None})  # fmt: skip
        results += run_checks(declared, payload, checks)
        failed = [c["name"] for c in results if not c["passed"]]
        on_reject = decl.on_reject if decl is not None else None
        if not failed:
            event = self.handoff_accepted(ticket, checks=results)
        else:
            reason = f"failed checks: {', '.join(failed)}"
            event = self.handoff_rejected(ticket, reason, checks=results)
            if decl is not None and on_reject == "escalate":
                self.escalation(f"handoff {ticket.handoff_id} from {ticket.from_agent} {reason}",
                                decl.owner, action=f"handoff:{self.agent.name}")  # fmt: skip
        return Received(not failed, payload, results, on_reject, event)

    def handoff_outcome(self, ticket: HandoffTicket, timeout: float) -> HandoffAnswer | None:
        """The receiver's answer to a handoff this agent made, waiting up to ``timeout`` s
        (it comes over the control channel, from any process); None if none came."""
        return self.authorizer.wait_answer(ticket.handoff_id, timeout)


def _problems(decl: HandoffDecl | None, payload: Any, sender: str, receiver: str) -> list[str]:
    if decl is None:
        return [f"no handoff {sender} -> {receiver} is declared in the governance file"]
    if decl.contract is None:
        return []
    return conform(decl.contract, payload)[1]
