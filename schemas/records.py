"""Conversion between the pydantic ``Event`` model and the Avro record fastavro writes.

The only difference is the payload: the model carries a ``type`` tag, the Avro record
names its union branch as ``(full Avro name, fields)``.
"""

from __future__ import annotations

from typing import Any

from handrail.schemas.models import AVRO_NAMES, Event
from handrail.schemas.wire import EventRecord

_TYPE_OF = {full: tag for tag, full in AVRO_NAMES.items()}


def to_record(event: Event) -> EventRecord:
    """The Avro record of ``event``, ready for ``wire.encode``."""
    record = event.model_dump()
    payload: dict[str, Any] = record["payload"]
    record["payload"] = (AVRO_NAMES[payload["type"]], payload)
    return record


def event_type(record: EventRecord) -> str:
    """The event type (``decision_made``, ...) of a decoded record."""
    name: str = record["payload"][0]
    return _TYPE_OF[name]


def from_record(record: EventRecord) -> Event:
    """Validate a decoded Avro record into an ``Event`` model."""
    name, fields = record["payload"]
    return Event.model_validate({**record, "payload": {**fields, "type": _TYPE_OF[name]}})
