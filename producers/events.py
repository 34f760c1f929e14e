"""One method per event type: the typed surface of ``Recorder``.

Each method validates its arguments into plain dicts (``checks.EventChecks``) and hands
them to ``_emit``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from handrail.producers.checks import DEFAULT_CHECKS, EventChecks
from handrail.producers.handoff import HandoffTicket, payload_digest
from handrail.producers.refs import EventRef, Fields
from handrail.producers.scope import current as current_scope
from handrail.schemas.models import Check as CheckModel
from handrail.schemas.models import Effect, EnforcementMode, Evidence, Severity
from handrail.settings import AgentIdentity

Checks = Sequence[CheckModel | Mapping[str, Any]]
Inputs = Sequence[Evidence | Mapping[str, Any]]


class EventMethods:
    """Mixed into ``Recorder``, which provides ``agent`` and ``_emit``."""

    agent: AgentIdentity
    _emit: Callable[..., EventRef]
    _checks: EventChecks = DEFAULT_CHECKS

    def decision(
        self,
        action: str,
        rationale: str,
        *,
        resource: str | None = None,
        inputs: Inputs = (),
        checks: Checks = (),
        alternatives: Sequence[str] = (),
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """The agent decided to act: why, on what inputs, after which checks."""
        payload = self._checks.fields(
            "decision_made",
            action=action,
            rationale=rationale,
            resource=resource,
            inputs=inputs,
            checks=checks,
            alternatives=alternatives,
        )
        return self._emit(payload, caused_by=caused_by)

    def policy_verdict(
        self,
        action: str,
        effect: Effect,
        rule: str,
        reason: str,
        *,
        resource: str | None = None,
        mode: EnforcementMode = "enforce",
        cost_usd: float | None = None,
        attempt: int | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """A decision-rights verdict on an action."""
        payload = self._checks.fields(
            "policy_verdict",
            action=action,
            effect=effect,
            rule=rule,
            reason=reason,
            resource=resource,
            mode=mode,
            cost_usd=cost_usd,
            attempt=attempt,
        )
        return self._emit(payload, caused_by=caused_by)

    def action_executed(
        self,
        action: str,
        *,
        resource: str | None = None,
        duration_ms: float | None = None,
        approval_id: str | None = None,
        output_ref: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """The action ran and succeeded."""
        payload = self._checks.fields(
            "action_executed",
            action=action,
            resource=resource,
            duration_ms=duration_ms,
            approval_id=approval_id,
            output_ref=output_ref,
        )
        return self._emit(payload, caused_by=caused_by)

    def action_failed(
        self,
        action: str,
        error_type: str,
        error_message: str,
        *,
        retryable: bool,
        resource: str | None = None,
        duration_ms: float | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """The action ran and failed."""
        payload = self._checks.fields(
            "action_failed",
            action=action,
            error_type=error_type,
            error_message=error_message,
            retryable=retryable,
            resource=resource,
            duration_ms=duration_ms,
        )
        return self._emit(payload, caused_by=caused_by)

    def retry(
        self,
        action: str,
        operation_id: str,
        attempt: int,
        reason: str,
        *,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """Another attempt at a failed operation (``attempt`` 1 = the first retry)."""
        payload = self._checks.fields(
            "retry", action=action, operation_id=operation_id, attempt=attempt, reason=reason
        )
        return self._emit(payload, caused_by=caused_by)

    def spend(
        self,
        usd: float,
        provider: str,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        action: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """Money spent on a paid call."""
        payload = self._checks.fields(
            "spend",
            usd=usd,
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            action=action,
        )
        return self._emit(payload, caused_by=caused_by)

    def handoff_offered(
        self,
        to_agent: str,
        task: str,
        *,
        payload: Any = None,
        payload_ref: str | None = None,
        contract: str | None = None,
        deadline: datetime | None = None,
        caused_by: EventRef | str | None = None,
    ) -> HandoffTicket:
        """Pass work to another agent; give it the returned ticket."""
        handoff_id = uuid.uuid4().hex
        depth = self._checks.limits.max_payload_depth
        digest = None if payload is None else payload_digest(payload, depth, "handoff_offered")
        offer = self._checks.fields(
            "handoff_offered",
            handoff_id=handoff_id,
            to_agent=to_agent,
            task=task,
            payload_sha256=digest,
            payload_ref=payload_ref,
            contract=contract,
            deadline=deadline,
        )
        ref = self._emit(offer, caused_by=caused_by)
        return HandoffTicket(
            handoff_id=handoff_id,
            workflow_id=ref.workflow_id,
            offer_event_id=ref.event_id,
            from_agent=self.agent.name,
            to_agent=to_agent,
            task=task,
            payload_sha256=digest,
            deadline=deadline,
        )

    def _answer(self, ticket: HandoffTicket, payload: Fields) -> EventRef:
        current = current_scope.get()
        inside = current is not None and current.workflow_id == ticket.workflow_id
        return self._emit(
            payload,
            workflow_id=ticket.workflow_id,
            caused_by=None if inside else ticket.offer_event_id,
        )

    def handoff_accepted(self, ticket: HandoffTicket, *, checks: Checks = ()) -> EventRef:
        """The handed-off work passed the receiver's checks and was taken."""
        payload = self._checks.fields(
            "handoff_accepted",
            handoff_id=ticket.handoff_id,
            from_agent=ticket.from_agent,
            checks=checks,
        )
        return self._answer(ticket, payload)

    def handoff_rejected(
        self, ticket: HandoffTicket, reason: str, *, checks: Checks = ()
    ) -> EventRef:
        """The handed-off work failed the receiver's checks and was refused."""
        payload = self._checks.fields(
            "handoff_rejected",
            handoff_id=ticket.handoff_id,
            from_agent=ticket.from_agent,
            reason=reason,
            checks=checks,
        )
        return self._answer(ticket, payload)

    def approval_requested(
        self,
        approval_id: str,
        action: str,
        reason: str,
        *,
        resource: str | None = None,
        cost_usd: float | None = None,
        expires_at: datetime | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """The agent waits for a human to approve an action."""
        payload = self._checks.fields(
            "approval_requested",
            approval_id=approval_id,
            action=action,
            reason=reason,
            resource=resource,
            cost_usd=cost_usd,
            expires_at=expires_at,
        )
        return self._emit(payload, caused_by=caused_by)

    def approval_granted(
        self,
        approval_id: str,
        approver: str,
        reason: str,
        *,
        signed: str | None = None,
        signature: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """A human approved. ``signed``/``signature``: the decision as the approver signed it
        (``handrail.governance.signing``); agents act only on a signed one."""
        payload = self._checks.fields(
            "approval_granted", approval_id=approval_id, approver=approver, reason=reason,
            signed=signed, signature=signature,
        )  # fmt: skip
        return self._emit(payload, caused_by=caused_by)

    def approval_denied(
        self,
        approval_id: str,
        approver: str,
        reason: str,
        *,
        signed: str | None = None,
        signature: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """A human denied. ``signed``/``signature``: the decision as the approver signed it
        (``handrail.governance.signing``); agents act only on a signed one."""
        payload = self._checks.fields(
            "approval_denied", approval_id=approval_id, approver=approver, reason=reason,
            signed=signed, signature=signature,
        )  # fmt: skip
        return self._emit(payload, caused_by=caused_by)

    def approval_expired(
        self, approval_id: str, *, caused_by: EventRef | str | None = None
    ) -> EventRef:
        """Nobody decided in time."""
        return self._emit(
            self._checks.fields("approval_expired", approval_id=approval_id), caused_by=caused_by
        )

    def escalation(
        self,
        reason: str,
        to: str,
        *,
        action: str | None = None,
        severity: Severity = "warning",
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """Hand a decision up instead of executing."""
        payload = self._checks.fields(
            "escalation", reason=reason, to=to, action=action, severity=severity
        )
        return self._emit(payload, caused_by=caused_by)

    def heartbeat(self, *, status: str | None = None, interval_s: float | None = None) -> EventRef:
        """The agent is alive; ``interval_s`` says when to expect the next one."""
        return self._emit(self._checks.fields("heartbeat", status=status, interval_s=interval_s))
