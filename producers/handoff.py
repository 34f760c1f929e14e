"""What travels with handed-off work so the receiver continues the same workflow."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from handrail.producers.errors import InvalidEventError
from handrail.producers.validation import (
    DEFAULT_LIMITS,
    depth_problem,
    identifiers_problem,
    is_event_id,
)


class HandoffTicket(BaseModel):
    """Returned by ``Recorder.handoff_offered``; pass it to the receiving agent (any process).

    ``ticket.model_dump_json()`` on the sender, ``HandoffTicket.model_validate_json(s)`` on
    the receiver, then ``with recorder.receive(ticket): ...``.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    handoff_id: str
    workflow_id: str
    offer_event_id: str
    from_agent: str
    to_agent: str
    task: str
    payload_sha256: str | None = None
    deadline: AwareDatetime | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> HandoffTicket:
        """A ticket may come from another process: its ids are checked as the recorder
        checks its own (default limits), and its offer is an event id."""
        names = ("handoff_id", "workflow_id", "from_agent", "to_agent", "payload_sha256")
        values = [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]
        why = identifiers_problem(values, DEFAULT_LIMITS)
        if why is None and not is_event_id(self.offer_event_id):
            why = "offer_event_id: not an event id"
        if why is not None:
            raise ValueError(f"invalid handoff ticket: {why}")
        return self


def payload_digest(payload: Any, max_depth: int = 64, event: str = "handoff") -> str:
    """SHA-256 of a payload: bytes as they are, str as UTF-8, anything else as canonical JSON.

    ``InvalidEventError`` (naming ``event``) for a payload nested deeper than ``max_depth``,
    one JSON cannot encode, or a string with a lone surrogate (no UTF-8 for it)."""
    if isinstance(payload, bytes):
        return hashlib.sha256(payload).hexdigest()
    why = depth_problem(payload, max_depth)
    if why is None:
        try:
            text = payload if isinstance(payload, str) else _canonical(payload)
            return hashlib.sha256(text.encode()).hexdigest()
        except UnicodeEncodeError:
            why = "a lone surrogate"
        except (TypeError, ValueError, RecursionError) as exc:  # (circular, NaN, a type)
            why = f"not JSON-encodable ({type(exc).__name__})"
    raise InvalidEventError(f"invalid {event} event: payload: {why}")


def _canonical(payload: Any) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), default=_json, allow_nan=False
    )


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot digest {type(value).__name__}")
