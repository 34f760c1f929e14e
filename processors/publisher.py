"""Findings become events: ``alert_raised`` / ``alert_resolved`` for the alerts topic and,
for a finding that asks for it, a ``halt`` for the control topic (the closed loop).

Pure: ``FindingEvents`` stamps the envelope (this worker is a producer session of its
own) and encodes each event in the wire format; the caller sends them. Alerts are keyed
by dedup key, so one partition owns each alert's delivery state; halts by target agent.
Each is also an event of the ledger: a copy goes to the events topic, keyed by workflow.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from handrail import __version__
from handrail.processors.findings import Finding
from handrail.schemas import AVRO_NAMES, encode
from handrail.schemas.models import AlertRaised, AlertResolved, Halt, Payload


class Outgoing(NamedTuple):
    topic: Literal["alerts", "control"]
    key: bytes
    value: bytes
    workflow_id: str
    """The key of the event's copy on the events topic, for the ledger."""


def alert_payload(finding: Finding, owners: dict[str, str]) -> Payload:
    """The alert event of a finding; the owner comes from the ownership map first."""
    if finding.resolved:
        return AlertResolved(dedup_key=finding.dedup_key, summary=finding.summary)
    return AlertRaised(
        dedup_key=finding.dedup_key,
        detector=finding.detector,
        severity=finding.severity,
        owner=owners.get(finding.agent) or finding.owner,
        summary=finding.summary,
        evidence=list(finding.evidence),
        subject_agent=finding.agent,
        subject_operation=finding.operation,
    )


def halt_payload(finding: Finding) -> Halt | None:
    if finding.halt is None or finding.resolved:
        return None
    return Halt(
        scope=finding.halt,
        target_agent=finding.agent,
        operation_id=finding.operation if finding.halt == "operation" else None,
        reason=finding.summary,
        alert_dedup_key=finding.dedup_key,
    )


class FindingEvents:
    """Stamps and encodes the events of findings, as one producer session."""

    def __init__(self, name: str, owners: dict[str, str]) -> None:
        self._agent = {"name": name, "version": __version__, "owner": "handrail"}
        self._owners = owners
        self._session = uuid.uuid4().hex
        self._sequence = 0

    def _record(self, payload: Payload, workflow_id: str, cause: str | None) -> tuple[str, bytes]:
        self._sequence += 1
        event_id = str(uuid.uuid4())
        record = {
            "event_id": event_id,
            "time": datetime.now(UTC),
            "workflow_id": workflow_id,
            "causation_id": cause,
            "agent": self._agent,
            "session_id": self._session,
            "sequence": self._sequence,
            "labels": {},
            "payload": (AVRO_NAMES[payload.type], payload.model_dump(exclude={"type"})),
        }
        return event_id, encode(record)

    def encode(self, findings: list[Finding]) -> list[Outgoing]:
        out = []
        for finding in findings:
            cause = finding.evidence[-1] if finding.evidence else None
            payload = alert_payload(finding, self._owners)
            alert_id, value = self._record(payload, finding.workflow_id, cause)
            out.append(Outgoing("alerts", finding.dedup_key.encode(), value, finding.workflow_id))
            halt = halt_payload(finding)
            if halt is not None:
                _, value = self._record(halt, finding.workflow_id, alert_id)
                out.append(Outgoing("control", finding.agent.encode(), value, finding.workflow_id))
        return out
