"""A recorder session: what all of one recorder's events share, and how an event as the
recorder buffers it becomes its full record.

A record call buffers only what differs from one event to the next, packed
(``packing.py``)::

    (event_id, sequence, time, workflow_id, causation_id, labels, payload's Avro name,
     payload fields)

with ``labels`` None for the session's own. The shipper completes it (``Session.record``)
with the agent, the session id and the labels, and it applies the redaction
paths there, before the event is encoded or spooled (an unredacted value never leaves the
agent's and its shipper's memory). The constant part costs the agent's thread nothing:
at an agent's pace, where each call meets cold caches, building and packing the whole
record on the caller cost about as much again as the rest of the call.

Event ids are UUIDv8: the session's 64 random bits, then the sequence number (the
recorder mints them as ``event_id`` does, inline).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from handrail.producers.packing import unpack
from handrail.producers.redaction import Redactor
from handrail.schemas import EventRecord

BufferedEvent = tuple[str, int, int, str, str | None, dict[str, str] | None, str, dict[str, Any]]
"""An event as the recorder buffers it (see the module docstring)."""

MAX_SEQUENCE = (1 << 48) - 1


class Session:
    """One recorder's session. Picklable: a shipper process gets a copy."""

    def __init__(
        self,
        agent: Mapping[str, Any],
        labels: Mapping[str, str],
        redact: Sequence[str] = (),
    ) -> None:
        session = uuid.uuid4()
        self.id = session.hex
        hi = (session.int >> 64) & ~(0xF << 12) | (0x8 << 12)  # version 8
        self.id_base = f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{hi & 0xFFFF:04x}-8000-"
        """Every event id but the sequence number's 12 hex digits."""
        self.agent = dict(agent)
        self.labels = dict(labels)
        self._redactor = Redactor(list(redact)) if redact else None
        """Raises ``ConfigurationError`` for a path that names no string field."""

    def event_id(self, sequence: int) -> str:
        """The id of this session's event ``sequence`` (1 to ``MAX_SEQUENCE``: 280 trillion;
        the variant bits are RFC 9562's 0b10)."""
        return f"{self.id_base}{sequence:012x}"

    def record(self, event: BufferedEvent) -> EventRecord:
        """The full, redacted record of a buffered event."""
        event_id, seq, time, workflow_id, causation_id, labels, name, fields = event
        record: EventRecord = {
            "event_id": event_id,
            "time": time,
            "workflow_id": workflow_id,
            "causation_id": causation_id,
            "agent": self.agent,
            "session_id": self.id,
            "sequence": seq,
            "labels": self.labels if labels is None else labels,
            "payload": (name, fields),
        }
        if self._redactor is not None:
            record["labels"] = dict(record["labels"])
            self._redactor.apply(record)
        return record

    def unpack(self, packed: bytes) -> EventRecord:
        """The full record of a buffered event, packed."""
        return self.record(unpack(packed))
