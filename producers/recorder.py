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
from collections.abc import Mapping
from contextlib import AbstractContextManager
from time import time_ns

from handrail.control.follower import ControlFollower
from handrail.files import FileModes
from handrail.governance import GovernanceError, Verdict, load
from handrail.governance.authority import Authority
from handrail.producers.authorize import Authorizer
from handrail.producers.checks import EventChecks, verdict_fields
from handrail.producers.errors import InvalidEventError, RecorderClosedError
from handrail.producers.events import EventMethods
from handrail.producers.governed_handoffs import GovernedHandoffs
from handrail.producers.guard import Guard
from handrail.producers.handoff import HandoffTicket
from handrail.producers.packing import VERSION, dumps
from handrail.producers.refs import EventRef, Fields
from handrail.producers.scope import Scope, enter
from handrail.producers.scope import current as current_scope
from handrail.producers.session import Session
from handrail.producers.shipping import ShipperStats, start_shipper
from handrail.schemas import AVRO_NAMES, Payload
from handrail.settings import AgentIdentity, Settings


class Recorder(EventMethods, GovernedHandoffs):
    """Records one agent's decision events. Thread-safe; use one per agent process."""

    def __init__(self, settings: Settings, agent: AgentIdentity | None = None) -> None:
        identity = agent or settings.agent
        if identity is None:
            raise InvalidEventError("no agent identity: pass agent= or set HANDRAIL_AGENT__NAME")
        self.agent = identity
        p = settings.producer
        self._checks = checks = EventChecks(p.limits)  # (validation: ``events.py``)
        checks.identity(identity)
        self._checked_workflow = ""  # the last workflow id checked (each is, once in a row)
        self._session = session = Session(identity.model_dump(), checks.labels(p.labels), p.redact)
        self.session_id = session.id
        self._id_base = session.id_base
        self._default_workflow = f"session-{session.id}"
        self._seq = 0
        self._closed = False
        FileModes.of(settings.files)  # an unknown group fails here, at start
        self._shipper = start_shipper(settings, session)
        self._exit_timeout = settings.producer.send_timeout_s
        # Without Kafka, the shipper's thread also appends control events to the control
        # log (the embedded channel): the agent's thread never waits on that file's lock.
        self._authorizer = _authorizer(settings, identity.name)
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
        if self._authorizer is not None:
            self._authorizer.close()
        return self._shipper.close(timeout)

    def stats(self) -> ShipperStats:
        return self._shipper.stats()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(self._exit_timeout)

    # -- decision rights ----------------------------------------------------------------------

    @property
    def authorizer(self) -> Authorizer:
        """The governance file applied to this agent; raises when there is none."""
        if self._authorizer is None:
            raise GovernanceError("no governance file: set HANDRAIL_GOVERNANCE__FILE")
        return self._authorizer

    def guard(
        self,
        action: str,
        *,
        resource: str | None = None,
        cost_usd: float | None = None,
        attempt: int | None = None,
        operation_id: str | None = None,
    ) -> Guard:
        """Run a tool call under decision rights: ``with rec.guard("db.customers.write"):``
        or ``@rec.guard("api.search")``. Authorizes; waits for a human's approval when the
        rules ask for one; raises ``ActionBlockedError`` when the action may not run; records
        ``action_executed`` or ``action_failed``. See ``handrail.producers.guard``."""
        return Guard(
            self, action, resource=resource, cost_usd=cost_usd, attempt=attempt,
            operation_id=operation_id,
        )  # fmt: skip

    def authorize(
        self,
        action: str,
        *,
        resource: str | None = None,
        cost_usd: float | None = None,
        attempt: int | None = None,
        operation_id: str | None = None,
        caused_by: EventRef | str | None = None,
    ) -> Verdict:
        """May this agent take ``action`` now? Decided by the governance file, and by the
        halts on the control topic for this agent or ``operation_id``; recorded as a
        ``policy_verdict`` event. ``attempt``: 0 for the first try, 1 for the first retry,
        ... In shadow mode a rule's verdict is recorded but ``allowed`` is True (a halt
        always denies)."""
        authorizer = self._authorizer or self.authorizer  # (the property raises)
        request = self._checks.request(action, resource, cost_usd, attempt, authorizer.mode)
        verdict = authorizer.decide(request, operation_id)
        self._emit(verdict_fields(request, verdict, authorizer.mode), caused_by=caused_by)
        return verdict

    # -- scopes -------------------------------------------------------------------------------

    def workflow(self, workflow_id: str | None = None) -> AbstractContextManager[Scope]:
        """Events recorded in the block belong to this workflow (a new id by default)."""
        return enter(workflow_id or f"wf-{uuid.uuid4().hex}", None)

    def within(self, parent: EventRef) -> AbstractContextManager[Scope]:
        """Events recorded in the block are children of ``parent``."""
        return enter(parent.workflow_id, parent.event_id)

    def receive(self, ticket: HandoffTicket) -> AbstractContextManager[Scope]:
        """Continue a handed-off workflow: events in the block follow the offer."""
        return enter(ticket.workflow_id, ticket.offer_event_id)

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
        fields = self._checks.fields(payload.type, **payload.model_dump(exclude={"type"}))
        return self._emit(fields, caused_by=caused_by, workflow_id=workflow_id, labels=labels)

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
        current = current_scope.get()
        in_scope = current is not None and (workflow_id is None or workflow_id == current[0])
        wf = workflow_id or (current[0] if current is not None else self._default_workflow)
        if wf is not self._checked_workflow:
            self._checked_workflow = self._checks.workflow_id(wf, tag)
        cause = caused_by if caused_by is None else self._checks.event_id(caused_by, tag)
        if not cause and in_scope and current is not None:
            cause = current[1]
        if labels is not None:
            labels = {**self._session.labels, **self._checks.labels(labels, tag)}
        # Against the daily budget once every check passed: a refused spend never counts.
        if tag == "spend" and self._authorizer is not None:
            self._authorizer.spent(values["usd"])
        shipper = self._shipper
        with shipper.lock:
            self._seq = seq = self._seq + 1
            event_id = f"{self._id_base}{seq:012x}"  # ``Session.event_id`` minus a frame
            # time: timestamp-micros; the shipper completes the record (``session.py``)
            event = (event_id, seq, time_ns() // 1000, wf, cause, labels, AVRO_NAMES[tag], values)
            shipper.put(dumps(event, VERSION))  # ``packing.pack`` minus a frame
        if in_scope:
            current_scope.set(tuple.__new__(Scope, (wf, event_id)))  # minus a frame
        return tuple.__new__(EventRef, (event_id, wf, tag, seq))  # EventRef(...) minus a frame


def _authorizer(settings: Settings, agent: str) -> Authorizer | None:
    """The governance file applied to ``agent``, following the control channel (the topic
    with Kafka, else the control log); an invalid file raises (the SDK fails closed and
    says why)."""
    file = settings.governance.file
    if file is None:
        return None
    governance = load(file, agent=agent)  # its handoff contracts imported now
    return Authorizer(governance, agent, ControlFollower(settings, agent, Authority(governance)))
