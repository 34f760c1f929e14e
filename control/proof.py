"""Who approved what, proven from the ledger and the public keys alone (pure).

Each approval's request and the decisions recorded on it (``event_json`` rows, in ledger
order) go through the same ``ControlState`` an agent uses: a decision counts only if its
signature verifies with a key the governance file gives a person who held the right for
that request. ``handrail approvals prove`` reads the rows (``PROOF_SQL``) and prints this.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handrail.control.state import ControlState, Forged
from handrail.governance.authority import Authority
from handrail.schemas import AVRO_NAMES

PROOF_SQL = """
SELECT event_json FROM events
WHERE type IN ('approval_requested', 'approval_granted', 'approval_denied')
  AND ({approval_id:String} = '' OR approval_id = {approval_id:String})
ORDER BY topic, partition, offset
"""
"""Each approval's request is applied first, then its decisions in ledger order (the
decisions of one recorder in the order it recorded them)."""


@dataclass(frozen=True, slots=True)
class Proof:
    approval_id: str
    agent: str
    action: str
    state: str
    """granted or denied by a proven decision; pending when none is proven."""
    signer: str | None
    decision_event_id: str | None
    refused: tuple[Forged, ...]
    """Decisions recorded on it that prove nothing (unsigned, badly signed, no right)."""


def record(event_json: str) -> dict[str, Any]:
    """A ledger row's ``event_json`` as the decoded record ``ControlState`` applies."""
    event = json.loads(event_json)
    payload = dict(event["payload"])
    kind = payload.pop("type")
    return {**event, "time": datetime.fromisoformat(event["time"]),
            "payload": (AVRO_NAMES[kind], payload)}  # fmt: skip


def prove(rows: Iterable[str], authority: Authority) -> list[Proof]:
    """One proof per approval requested in ``rows`` (``event_json``, in ledger order)."""
    by_approval: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        rec = record(row)
        by_approval.setdefault(rec["payload"][1]["approval_id"], []).append(rec)
    proofs = []
    for approval_id, records in by_approval.items():
        refused: list[Forged] = []
        state = ControlState(authority=authority, on_forged=refused.append)
        asked = AVRO_NAMES["approval_requested"]
        for rec in sorted(records, key=lambda r: r["payload"][0] != asked):  # stable
            state.apply(rec)
        request = state.approvals.get(approval_id)
        if request is None:
            continue  # decisions whose request is not in the ledger answer nothing
        proofs.append(Proof(approval_id, request.agent, request.action, request.state,
                            request.decided_by if request.state != "pending" else None,
                            request.decision_event_id, tuple(refused)))  # fmt: skip
    return proofs
