"""The port through which delivery outcomes become ``alert_delivered`` events.

``handrail.producers.Recorder`` is the real adapter; ``MemoryRecorder`` keeps them in a
list (tests, dry runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

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


if TYPE_CHECKING:

    def _recorder_is_a_delivery_recorder(recorder: Recorder) -> DeliveryRecorder:
        return recorder  # mypy proves that the SDK's Recorder fits the port
