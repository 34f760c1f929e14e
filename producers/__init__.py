"""The SDK agents call: ``Recorder`` emits typed decision events to Kafka (or the spool).

from handrail.producers import Recorder
from handrail.settings import AgentIdentity, Settings

with Recorder(Settings(), AgentIdentity(name="summarizer", owner="team-data")) as rec:
    with rec.workflow():
        rec.decision("db.customers.write", "summary passed all checks", checks=[...])

What ``pip install handrail`` is for. May import: ``handrail.governance``,
``handrail.settings``, ``handrail.files``, ``handrail.backoff``, ``handrail.schemas``,
kafka-python, crc32c; never the processors, the ledger, the embedded pipeline or the
command (docs/architecture.md).
"""

from handrail.producers.errors import (
    ActionBlockedError,
    ConfigurationError,
    HandoffRefusedError,
    InvalidEventError,
    ProducerError,
    RecorderClosedError,
    SpoolError,
)
from handrail.producers.governed_handoffs import Received
from handrail.producers.guard import Guard
from handrail.producers.handoff import HandoffTicket
from handrail.producers.recorder import Recorder
from handrail.producers.refs import EventRef
from handrail.producers.shipping import ShipperStats
from handrail.schemas.models import Check, Evidence

__all__ = [
    "ActionBlockedError",
    "Check",
    "ConfigurationError",
    "EventRef",
    "Evidence",
    "Guard",
    "HandoffRefusedError",
    "HandoffTicket",
    "InvalidEventError",
    "ProducerError",
    "Received",
    "Recorder",
    "RecorderClosedError",
    "ShipperStats",
    "SpoolError",
]
