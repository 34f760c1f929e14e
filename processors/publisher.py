"""Findings become events: ``alert_raised`` / ``alert_resolved`` for the alerts topic and,
for a finding that asks for it, a ``halt`` for the control topic (the closed loop).

Pure: ``FindingEvents`` stamps the envelope (this worker is a producer session of its
own) and encodes each event in the wire format; the caller sends them. Alerts are keyed
by dedup key, so one partition owns each alert's delivery state; halts by target agent,
on the halts topic (``control/topics.py``). Each is also an event of the
ledger: a copy goes to the events topic, keyed by workflow.

A halt carries its decision signed with the processors' key (``HaltSigner``,
``processors.signing_key``): agents under a governance file act only on halts signed by
a processor it names (``handrail.governance.signing``). Without a key halts go unsigned
(a warning at start says agents will ignore them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from nacl.signing import SigningKey

from handrail import __version__
from handrail.governance.signing import Decision, load_private_key, signed_fields
from handrail.processors.findings import Finding
from handrail.producers.session import Session
from handrail.schemas import AVRO_NAMES, encode
from handrail.schemas.models import AlertRaised, AlertResolved, Halt, Payload

log = logging.getLogger(__name__)


class Outgoing(NamedTuple):
    topic: Literal["alerts", "halts"]
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


@dataclass(frozen=True, slots=True)
class HaltSigner:
    """The processors' signing key, and the name the governance file gives its public key."""

    name: str
    key: SigningKey = field(repr=False)

    @classmethod
    def load(cls, name: str, path: Path | None) -> HaltSigner | None:
        """The key in ``path`` (I/O, at start; ``SigningError`` says why it cannot be used);
        None, with a warning, when no key is set."""
        if path is None:
            log.warning("processors.signing_key is not set: halts go unsigned, and agents "
                        "under a governance file ignore them")  # fmt: skip
            return None
        return cls(name, load_private_key(path))

    def signed(self, halt: Halt, workflow_id: str) -> Halt:
        """``halt`` carrying its decision, signed."""
        decision = Decision(
            "halt", self.name, halt.target_agent, halt.operation_id or "",
            halt.alert_dedup_key or "", halt.reason, workflow_id,
        )  # fmt: skip
        return halt.model_copy(update=signed_fields(decision, self.key))


def halt_payload(finding: Finding, signer: HaltSigner | None = None) -> Halt | None:
    if finding.halt is None or finding.resolved:
        return None
    halt = Halt(
        scope=finding.halt,
        target_agent=finding.agent,
        operation_id=finding.operation if finding.halt == "operation" else None,
        reason=finding.summary,
        alert_dedup_key=finding.dedup_key,
    )
    return halt if signer is None else signer.signed(halt, finding.workflow_id)


class FindingEvents:
    """Stamps and encodes the events of findings, as one producer session."""

    def __init__(self, name: str, owners: dict[str, str], signer: HaltSigner | None = None) -> None:
        self._session = Session({"name": name, "version": __version__, "owner": "handrail"}, {})
        self._owners = owners
        self._signer = signer
        self._sequence = 0

    def _record(self, payload: Payload, workflow_id: str, cause: str | None) -> tuple[str, bytes]:
        """An event of this session, stamped as the SDK stamps an agent's (``Session``)."""
        self._sequence += 1
        sequence, event_id = self._sequence, self._session.event_id(self._sequence)
        fields = payload.model_dump(exclude={"type"})
        record = self._session.record((
            event_id, sequence, time.time_ns() // 1000, workflow_id, cause, None,
            AVRO_NAMES[payload.type], fields,
        ))  # fmt: skip
        return event_id, encode(record)

    def encode(self, findings: list[Finding]) -> list[Outgoing]:
        out = []
        for finding in findings:
            cause = finding.evidence[-1] if finding.evidence else None
            payload = alert_payload(finding, self._owners)
            alert_id, value = self._record(payload, finding.workflow_id, cause)
            out.append(Outgoing("alerts", finding.dedup_key.encode(), value, finding.workflow_id))
            halt = halt_payload(finding, self._signer)
            if halt is not None:
                _, value = self._record(halt, finding.workflow_id, alert_id)
                out.append(Outgoing("halts", finding.agent.encode(), value, finding.workflow_id))
        return out
