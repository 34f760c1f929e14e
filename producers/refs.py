"""Small value types shared by the recorder and its event methods."""

from __future__ import annotations

from typing import Any, NamedTuple


class EventRef(NamedTuple):
    """What a record call returns: enough to point at the event later."""

    event_id: str
    workflow_id: str
    type: str
    sequence: int


Fields = tuple[str, dict[str, Any]]
"""An event type and its validated payload fields, ready to encode."""
