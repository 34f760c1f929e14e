"""The recorder: the one object agent code uses to emit decision events.

Every call validates its arguments (an invalid one raises ``InvalidEventError`` naming the
field), stamps the envelope (event id, time, workflow, causation, agent, session, a
gap-free sequence number) and buffers the event; a background shipper delivers it to
Kafka or, when Kafka is away, to the durable spool. No call raises on transport trouble
or waits longer than ``producer.max_block_ms``.
"""

from __future__ import annotations

import atexit
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from handrail.producers import scope
from handrail.producers.errors import InvalidEventError, RecorderClosedError
from handrail.producers.handoff import HandoffTicket, payload_digest
from handrail.producers.redaction import Redactor
from handrail.producers.shipper import Shipper, ShipperStats
from handrail.producers.spool import Spool
from handrail.producers.transport import kafka_producer_factory
from handrail.schemas import AVRO_NAMES, Payload
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.schemas.models import Check, Effect, EnforcementMode, Evidence, Severity
from handrail.settings import AgentIdentity, Settings

Checks = Sequence[Check | Mapping[str, Any]]
Inputs = Sequence[Evidence | Mapping[str, Any]]


_VARIANT = 0b10 << 62  # RFC 9562 variant bits of an event id's low 64 bits
_LOW48 = (1 << 48) - 1


class EventRef(NamedTuple):
    """What a record call returns: enough to point at the event later."""

    event_id: str
    workflow_id: str
    type: str
    sequence: int


Fields = tuple[str, dict[str, Any]]
"""An event type and its validated payload fields, ready to encode."""


@cache
def _validator(tag: str) -> Any:
    return TypeAdapter(PAYLOAD_FIELDS[tag]).validator


def _fields(tag: str, /, **values: Any) -> Fields:
    """Validate payload arguments into plain dicts; name the field that is wrong."""
    try:
        return tag, _validator(tag).validate_python(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err['input']!r:.60})"
            for err in exc.errors()
        )
        raise InvalidEventError(f"invalid {tag} event: {problems}") from None


def _id(ref: EventRef | str | None) -> str | None:
    return ref.event_id if isinstance(ref, EventRef) else ref


class Recorder:
    """Records one agent's decision events. Thread-safe; use one per agent process."""

    def __init__(self, settings: Settings, agent: AgentIdentity | None = None) -> None:
        identity = agent or settings.agent
        if identity is None:
            raise InvalidEventError("no agent identity: pass agent= or set HANDRAIL_AGENT__NAME")
        self.agent = identity
        session = uuid.uuid4()
        self.session_id = session.hex
        # Event ids are UUIDv8: this session's 64 random bits, then the sequence number.
        hi = (session.int >> 64) & ~(0xF << 12) | (0x8 << 12)
        self._id_prefix = f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{hi & 0xFFFF:04x}-"
        self._agent = identity.model_dump()
        self._labels = dict(settings.producer.labels)
        self._redactor = Redactor(settings.producer.redact)
        self._default_workflow = f"session-{self.session_id}"
        self._seq = 0
        self._closed = False
        kafka = settings.kafka
        factory = (
            kafka_producer_factory(kafka, settings.producer) if kafka.bootstrap_servers else None
        )
        spool = Spool(
            settings.spool.dir,
            self.session_id,
            fsync=settings.spool.fsync,
            segment_max_events=settings.spool.segment_max_events,
        )
        p = settings.producer
        self._shipper = Shipper(
            topic=kafka.events_topic,
            spool=spool,
            producer_factory=factory,
            buffer_max_events=p.buffer_max_events,
            max_block_ms=p.max_block_ms,
            batch_max_events=p.batch_max_events,
            send_timeout_s=p.send_timeout_s,
            retry_backoff_max_s=p.retry_backoff_max_s,
        )
        self._exit_timeout = p.send_timeout_s
        atexit.register(self.close, self._exit_timeout)

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event so far is delivered to Kafka or written to the spool."""
        return self._shipper.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what it can within ``timeout``, then stop; True if nothing was left over.

        Events not delivered by then stay in the spool for the next recorder to replay.
        """
        if self._closed:
            return True
        self._closed = True
        atexit.unregister(self.close)
        return self._shipper.close(timeout)

    def stats(self) -> ShipperStats:
        return self._shipper.stats()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(self._exit_timeout)

    # -- scopes -------------------------------------------------------------------------------

    def workflow(self, workflow_id: str | None = None) -> AbstractContextManager[scope.Scope]:
        """Events recorded in the block belong to this workflow (a new id by default)."""
        return scope.enter(workflow_id or f"wf-{uuid.uuid4().hex}", None)

    def within(self, parent: EventRef) -> AbstractContextManager[scope.Scope]:
        """Events recorded in the block are children of ``parent``."""
        return scope.enter(parent.workflow_id, parent.event_id)

    def receive(self, ticket: HandoffTicket) -> AbstractContextManager[scope.Scope]:
        """Continue a handed-off workflow: events in the block follow the offer."""
        return scope.enter(ticket.workflow_id, ticket.offer_event_id)

    # -- the generic call ---------------------------------------------------------------------

    def record(
        self,
        payload: Payload,
        *,
        caused_by: EventRef | str | None = None,
        workflow_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> EventRef:
        """Record any event type given as its model (``handrail.schemas.models``)."""
        values = payload.model_dump(exclude={"type"})
        return self._emit(
            (payload.type, values), caused_by=caused_by, workflow_id=workflow_id, labels=labels
        )

    def _emit(
        self,
        fields: Fields,
        *,
        caused_by: EventRef | str | None = None,
        workflow_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> EventRef:
        if self._closed:
            raise RecorderClosedError("the recorder is closed")
        tag, values = fields
        current = scope.current.get()
        in_scope = current is not None and (workflow_id is None or workflow_id == current[0])
        wf = workflow_id or (current[0] if current is not None else self._default_workflow)
        cause = _id(caused_by) or (current[1] if in_scope and current is not None else None)
        event_labels = self._labels if labels is None else {**self._labels, **labels}
        record = {
            "event_id": "",
            "time": datetime.now(UTC),
            "workflow_id": wf,
            "causation_id": cause,
            "agent": self._agent,
            "session_id": self.session_id,
            "sequence": 0,
            "labels": event_labels,
            "payload": (AVRO_NAMES[tag], values),
        }
        if self._redactor:
            record["labels"] = dict(event_labels)
            self._redactor.apply(record)
        shipper = self._shipper
        with shipper.lock:
            self._seq = seq = self._seq + 1
            low = seq | _VARIANT
            record["event_id"] = event_id = f"{self._id_prefix}{low >> 48:04x}-{low & _LOW48:012x}"
            record["sequence"] = seq
            shipper.put(record)
        if in_scope:
            scope.current.set(scope.Scope(wf, event_id))
        return EventRef(event_id, wf, tag, seq)

    # -- one method per event type ------------------------------------------------------------

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
        payload = _fields(
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
        payload = _fields(
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
        payload = _fields(
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
        payload = _fields(
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
        payload = _fields(
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
        payload = _fields(
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
        digest = None if payload is None else payload_digest(payload)
        offer = _fields(
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
        current = scope.current.get()
        inside = current is not None and current.workflow_id == ticket.workflow_id
        return self._emit(
            payload,
            workflow_id=ticket.workflow_id,
            caused_by=None if inside else ticket.offer_event_id,
        )

    def handoff_accepted(self, ticket: HandoffTicket, *, checks: Checks = ()) -> EventRef:
        """The handed-off work passed the receiver's checks and was taken."""
        payload = _fields(
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
        payload = _fields(
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
        payload = _fields(
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
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """A human approved."""
        payload = _fields(
            "approval_granted", approval_id=approval_id, approver=approver, reason=reason
        )
        return self._emit(payload, caused_by=caused_by)

    def approval_denied(
        self,
        approval_id: str,
        approver: str,
        reason: str,
        *,
        caused_by: EventRef | str | None = None,
    ) -> EventRef:
        """A human denied."""
        payload = _fields(
            "approval_denied", approval_id=approval_id, approver=approver, reason=reason
        )
        return self._emit(payload, caused_by=caused_by)

    def approval_expired(
        self, approval_id: str, *, caused_by: EventRef | str | None = None
    ) -> EventRef:
        """Nobody decided in time."""
        return self._emit(_fields("approval_expired", approval_id=approval_id), caused_by=caused_by)

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
        payload = _fields("escalation", reason=reason, to=to, action=action, severity=severity)
        return self._emit(payload, caused_by=caused_by)

    def heartbeat(self, *, status: str | None = None, interval_s: float | None = None) -> EventRef:
        """The agent is alive; ``interval_s`` says when to expect the next one."""
        return self._emit(_fields("heartbeat", status=status, interval_s=interval_s))
