"""Which shipper a recorder gets: a thread of the agent's process, or a process of its own.

``producer.shipper = "thread"`` (the default): the shipper (``shipper.py``) runs on a
background thread of the agent's process. Simple, and right for agents that record a few
events a second, like most LLM agents.

``"process"``: the same shipper runs in a child process (``process.py``); the
agent's process keeps only the record calls and a thread that writes packed events to a
pipe (``remote.py``). Kafka's client, encoding and the spool then use another
core and never hold the agent's GIL, which keeps each record call's cost flat for agents
that record thousands of events a second.
"""

from __future__ import annotations

import threading
from typing import Protocol

from handrail.producers.session import Session
from handrail.producers.shipping.remote import RemoteShipper
from handrail.producers.shipping.shipper import Shipper
from handrail.producers.shipping.stats import ShipperStats
from handrail.settings import Settings


class EventShipper(Protocol):
    """What the recorder needs of a shipper."""

    lock: threading.Lock
    """Held by the recorder while it numbers and buffers an event (keeps order)."""

    def put(self, packed: bytes) -> None:
        """Buffer one packed event (``session.py``); the caller holds ``lock``."""

    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self, timeout: float | None = None) -> bool: ...
    def stats(self) -> ShipperStats: ...


def start_shipper(settings: Settings, session: Session) -> EventShipper:
    if settings.producer.shipper == "process":
        return RemoteShipper(settings, session)
    return Shipper.from_settings(settings, session)
