"""What travels with handed-off work so the receiver continues the same workflow."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict


class HandoffTicket(BaseModel):
    """Returned by ``Recorder.handoff_offered``; pass it to the receiving agent (any process).

    ``ticket.model_dump_json()`` on the sender, ``HandoffTicket.model_validate_json(s)`` on
    the receiver, then ``with recorder.receive(ticket): ...``.
    """

    model_config = ConfigDict(frozen=True)

    handoff_id: str
    workflow_id: str
    offer_event_id: str
    from_agent: str
    to_agent: str
    task: str
    payload_sha256: str | None = None
    deadline: AwareDatetime | None = None


def payload_digest(payload: Any) -> str:
    """SHA-256 of a payload: bytes as they are, str as UTF-8, anything else as canonical JSON."""
    if isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, str):
        data = payload.encode()
    else:
        data = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json).encode()
    return hashlib.sha256(data).hexdigest()


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot digest {type(value).__name__}")
