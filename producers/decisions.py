"""A person's signed decision, recorded as an event: on the events topic and the control
channel, or with no Kafka in the spool and the control log (the embedded default). The
recorder is ``handrail-cli``'s, owned by the signer: a person is no agent under rules."""

from __future__ import annotations

from handrail.control.decisions import payload
from handrail.governance.authority import PEOPLE_RECORDER
from handrail.governance.signing import Decision
from handrail.producers.recorder import Recorder
from handrail.settings import AgentIdentity, Settings

IDENTITY = PEOPLE_RECORDER


def record_decision(
    settings: Settings, decision: Decision, signature: bytes, timeout_s: float = 10.0
) -> bool:
    """Record ``decision`` with its signature; True once it left this process (Kafka
    acknowledged it, or no Kafka is configured and the spool holds it), False when it
    waits in the spool. An approval's decision is caused by the request it answers."""
    settings = settings.model_copy(deep=True)
    settings.governance.file = None
    caused_by = decision.refers_to if decision.kind != "resume" else None
    with Recorder(settings, AgentIdentity(name=IDENTITY, owner=decision.signer)) as rec:
        rec.record(payload(decision, signature), workflow_id=decision.workflow_id or None,
                   caused_by=caused_by)  # fmt: skip
        if settings.kafka.bootstrap_servers:
            return rec.flush(timeout_s) and rec.stats().delivered > 0
    return True
