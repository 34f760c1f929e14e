"""Events as the recorder buffers them (packed, ``session.py``), some holding values no
Avro encoder takes: for feeding a shipper directly, past the SDK's validation."""

from __future__ import annotations

import time
from typing import Any

from handrail.producers.packing import pack
from handrail.producers.session import Session
from handrail.schemas import AVRO_NAMES

SESSION = Session({"name": "a", "version": "1", "owner": "t"}, {})
GOOD_OF_TWELVE = [1, 3, 4, 5, 6, 8, 9, 10, 11, 12]
"""The sequence numbers of ``hostile_twelve`` that can be encoded."""


def packed(seq: int, name: str = "heartbeat", **fields: Any) -> bytes:
    """Event ``seq`` of ``SESSION`` as the recorder buffers it."""
    values = {"status": "ok", "interval_s": 30.0} if name == "heartbeat" else {}
    values |= fields
    event_id = SESSION.event_id(seq)
    return pack((event_id, seq, time.time_ns() // 1000, "wf", None, None, AVRO_NAMES[name], values))


def hostile_twelve() -> list[bytes]:
    """Twelve events; the 2nd holds a lone surrogate, the 7th an int past Avro's long."""
    events = [packed(seq) for seq in range(1, 13)]
    events[1] = packed(2, status="bad \ud800 model output")
    events[6] = packed(7, "retry", action="api.call", operation_id="op", attempt=2**63,
                       reason="r")  # fmt: skip
    return events
