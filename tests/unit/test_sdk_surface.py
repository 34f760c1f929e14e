"""The typed recorder methods cover their event types' fields: no drift from the schema."""

from __future__ import annotations

import inspect

from handrail.producers import Recorder
from handrail.schemas.fields import PAYLOAD_FIELDS

METHOD_OF = {"decision_made": "decision"}
EMITTED_BY_PROCESSORS = {"alert_raised", "alert_resolved", "alert_delivered", "halt", "resume"}
FROM_TICKET = {"handoff_id", "from_agent", "payload_sha256"}  # filled in by the SDK


def test_every_agent_event_type_has_a_method_taking_all_its_fields() -> None:
    for tag, fields in PAYLOAD_FIELDS.items():
        if tag in EMITTED_BY_PROCESSORS:
            continue
        method = getattr(Recorder, METHOD_OF.get(tag, tag))
        parameters = set(inspect.signature(method).parameters)
        missing = set(fields.__annotations__) - parameters - FROM_TICKET
        assert not missing, f"Recorder.{method.__name__} lacks {sorted(missing)}"
