"""The port through which delivery outcomes become ``alert_delivered`` events.

``DeliveryEvents`` stamps them as events of the router's own session and hands their
bytes on (the Faust worker sends them to the events topic, the embedded pipeline numbers
them as its own source); the SDK's ``Recorder`` fits the port too; ``MemoryRecorder``
keeps them in a list (tests, dry runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from handrail.processors.publisher import FindingEvents
from handrail.processors.router.outcome import DeliveryAttempt
from handrail.schemas.models import AlertDelivered

if TYPE_CHECKING:
    from handrail.producers import Recorder


class DeliveryRecorder(Protocol):
    """Records an event payload, caused by the alert event, in the alert's workflow."""

    def record(
        self,
        payload: AlertDelivered,
        *,
        caused_by: str | None = None,
        workflow_id: str | None = None,
    ) -> object: ...


def delivered_event(attempt: DeliveryAttempt) -> AlertDelivered:
    """The ``alert_delivered`` payload of one attempt."""
    return AlertDelivered(
        dedup_key=attempt.dedup_key,
        channel=attempt.kind,
        target=f"{attempt.channel}@{attempt.target}",
        ok=attempt.ok,
        status_code=attempt.status_code,
        error=attempt.error,
        attempt=attempt.attempt,
    )


@dataclass(frozen=True)
class Recorded:
    """One payload ``MemoryRecorder`` received, with its causation and workflow."""

    payload: AlertDelivered
    caused_by: str | None
    workflow_id: str | None


@dataclass
class MemoryRecorder:
    """An in-memory ``DeliveryRecorder``."""

    events: list[Recorded] = field(default_factory=list)

    def record(
        self,
        payload: AlertDelivered,
        *,
        caused_by: str | None = None,
        workflow_id: str | None = None,
    ) -> Recorded:
        entry = Recorded(payload, caused_by, workflow_id)
        self.events.append(entry)
        return entry


class DeliveryEvents(FindingEvents):
    """``alert_delivered`` events of the router's own session, each handed to ``add`` as
    (key: its workflow id, value: its bytes in the wire format)."""

    def __init__(self, name: str, add: Callable[[bytes, bytes], object]) -> None:
        super().__init__(name, {})
        self._add = add

    def record(
        self,
        payload: AlertDelivered,
        *,
        caused_by: str | None = None,
        workflow_id: str | None = None,
    ) -> str:
        event_id, value = self._record(payload, workflow_id or "", caused_by)
        self._add((workflow_id or "").encode(), value)
        return event_id


if TYPE_CHECKING:

    def _recorder_is_a_delivery_recorder(recorder: Recorder) -> DeliveryRecorder:
        return recorder  # mypy proves that the SDK's Recorder fits the port
