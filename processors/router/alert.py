"""Alert events as the router reads them: parsed from decoded event records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from handrail.processors.router.errors import MalformedAlertError
from handrail.schemas import AVRO_NAMES, EventRecord
from handrail.schemas.models import AlertRaised, AlertResolved, Severity

Action = Literal["trigger", "resolve"]

_KINDS: dict[str, type[AlertRaised | AlertResolved]] = {
    AVRO_NAMES["alert_raised"]: AlertRaised,
    AVRO_NAMES["alert_resolved"]: AlertResolved,
}


@dataclass(frozen=True)
class AlertEvent:
    """An ``alert_raised`` or ``alert_resolved`` event: its envelope and its payload."""

    event_id: str
    workflow_id: str
    time: datetime | None
    emitter: str
    """Name of the agent (detector process) that emitted the event."""
    payload: AlertRaised | AlertResolved

    @property
    def action(self) -> Action:
        return "trigger" if isinstance(self.payload, AlertRaised) else "resolve"

    @property
    def dedup_key(self) -> str:
        return self.payload.dedup_key


@dataclass(frozen=True)
class Notice:
    """What a channel delivers: an alert event with the raise it belongs to.

    For a resolve, ``raised`` is the raise that opened the key (kept in the suppression
    state); ``event`` is the resolve itself.
    """

    event: AlertEvent
    raised: AlertRaised

    @property
    def action(self) -> Action:
        return self.event.action

    @property
    def dedup_key(self) -> str:
        return self.event.dedup_key

    @property
    def severity(self) -> Severity:
        return self.raised.severity

    @property
    def summary(self) -> str:
        """This event's summary: the finding, or why it cleared."""
        return self.event.payload.summary


def is_alert(record: EventRecord) -> bool:
    """Whether ``record`` is an alert event (raised or resolved)."""
    payload = record.get("payload")
    return isinstance(payload, tuple | list) and len(payload) == 2 and payload[0] in _KINDS


def parse_alert(record: EventRecord) -> AlertEvent:
    """The alert event in ``record``; ``MalformedAlertError`` names what is missing or wrong."""
    if not is_alert(record):
        raise MalformedAlertError(f"not an alert event: payload {record.get('payload')!r:.80}")
    name, fields = record["payload"]
    if not isinstance(fields, dict):
        raise MalformedAlertError(f"malformed {name} payload: {fields!r:.80}")
    kind = _KINDS[name]
    try:
        payload = kind.model_validate({k: v for k, v in fields.items() if k != "type"})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise MalformedAlertError(f"malformed {name} payload: {problems}") from None
    event_id, workflow_id = record.get("event_id"), record.get("workflow_id")
    if isinstance(event_id, uuid.UUID):  # fastavro decodes the uuid logical type
        event_id = str(event_id)
    for field, value in (("event_id", event_id), ("workflow_id", workflow_id)):
        if not isinstance(value, str) or not value:
            raise MalformedAlertError(f"alert event without {field}: {record!r:.120}")
    time = record.get("time")
    agent: Any = record.get("agent")
    emitter = agent.get("name") if isinstance(agent, dict) else None
    return AlertEvent(
        event_id=str(event_id),
        workflow_id=str(workflow_id),
        time=time if isinstance(time, datetime) else None,
        emitter=emitter if isinstance(emitter, str) else "handrail",
        payload=payload,
    )
