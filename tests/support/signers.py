"""People and a processor with key pairs, a governance file naming them, and helpers that
sign control entries as ``handrail approvals``, ``handrail resume`` and the processors do."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from handrail.governance import Governance, parse
from handrail.governance.authority import Authority
from handrail.governance.signing import (
    Decision,
    DecisionKind,
    generate,
    public_key_line,
    signed_fields,
    write_private_key,
)

PEOPLE = ("alice", "bob", "mallory")
"""alice approves database writes (group leads) and lifts halts; bob approves API calls;
mallory has a key and no right."""
PROCESSOR = "handrail-processors"


@cache
def key(name: str) -> SigningKey:
    return generate()


def governance_yaml(extra_agents: tuple[str, ...] = ()) -> str:
    def keys(name: str) -> str:
        return f"{{keys: ['{public_key_line(key(name).verify_key, name)}']}}"

    agents = "\n".join(f"  {a}: {{owner: team}}" for a in ("writer", "payer", "other",
                                                           *extra_agents))  # fmt: skip
    people = "\n".join(f"  {p}: {keys(p)}" for p in PEOPLE)
    return f"""version: 1
agents:
{agents}
people:
{people}
groups:
  leads: [alice]
processors:
  {PROCESSOR}: {keys(PROCESSOR)}
halts:
  resumers: [alice]
rights:
  - action: db.customers.write
    effect: needs_approval
    approval: {{timeout_s: 30, approvers: ["group:leads"]}}
  - action: api.*
    effect: allow
    spend: {{per_request_usd: 5}}
    approval: {{timeout_s: 30, approvers: [bob]}}
"""


@cache
def governance() -> Governance:
    return parse(governance_yaml())


def authority() -> Authority:
    return Authority(governance())


def key_file(directory: Path, name: str) -> Path:
    """``name``'s private key in a 0600 file under ``directory``."""
    path = directory / f"{name}.key"
    if not path.exists():
        write_private_key(path, key(name))
    return path


def signed(decision: Decision, by: SigningKey | None = None) -> dict[str, str]:
    """The ``signed`` and ``signature`` payload fields of ``decision``, signed by ``by``
    (default: the key of the decision's signer)."""
    return signed_fields(decision, by or key(decision.signer))


def decision_fields(
    kind: DecisionKind, request: dict[str, Any], signer: str, reason: str = "ok"
) -> dict[str, Any]:
    """The payload of ``signer``'s signed decision on the approval ``request`` (a record)."""
    p = request["payload"][1]
    decision = Decision(kind, signer, request["agent"]["name"], p["approval_id"],
                        str(request["event_id"]), reason, request["workflow_id"])  # fmt: skip
    return {"approval_id": p["approval_id"], "approver": signer, "reason": reason,
            **signed(decision)}  # fmt: skip


def halt_fields(agent: str, operation: str | None, reason: str = "storm",
                alert: str | None = "storm") -> dict[str, Any]:  # fmt: skip
    decision = Decision("halt", PROCESSOR, agent, operation or "", alert or "", reason)
    scope = "operation" if operation else "agent"
    return {"scope": scope, "target_agent": agent, "operation_id": operation,
            "reason": reason, "alert_dedup_key": alert, **signed(decision)}  # fmt: skip


def nonce_of(halt: dict[str, Any]) -> str:
    """The signed nonce of a halt record: what a resume names to lift it."""
    return Decision.parse(halt["payload"][1]["signed"]).nonce


def resume_fields(agent: str, operation: str | None, halt_nonce: str, signer: str = "alice",
                  reason: str = "fixed") -> dict[str, Any]:  # fmt: skip
    decision = Decision("resume", signer, agent, operation or "", halt_nonce, reason)
    scope = "operation" if operation else "agent"
    return {"scope": scope, "target_agent": agent, "operation_id": operation,
            "reason": reason, "by": signer, **signed(decision)}  # fmt: skip
