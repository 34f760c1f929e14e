"""Forged control entries, kept per workflow: a halt, resume or approval decision on the
events stream whose signature does not verify, whose key the governance file does not
name, whose signer lacks the right, or that approves its own request. Each raises a
critical "forged control entry" alert; its event stays in the ledger as it came, so the
alert and the entry prove together what was refused and why.

The judgement is the agents' own (``producers.control.ControlState``), so the processors
and the agents never disagree on what counts: each entry is applied to a fresh state
holding only the approval request it answers (kept here, per workflow, for a day). A
decision on a request not seen (older than a day, or from before this processor's state)
is judged on its signature and signer alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handrail.governance.authority import Authority
from handrail.governance.signing import Refused, verify_signed
from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.producers.control import DECISIONS, ControlState, Forged
from handrail.schemas import AVRO_NAMES

SIGNED_KINDS = frozenset({"halt", "resume", "approval_granted", "approval_denied"})
"""What must carry a signed decision."""
_FORGET_AFTER_S = 86_400.0
_KEEP_REQUESTS = 1_000
"""Requests remembered per workflow, at most (the oldest go first)."""


def _number(value: Any) -> Any:
    """An observation's number as the record had it (NaN and ±inf travel by name)."""
    return float(value) if value in ("nan", "inf", "-inf") else value


def _record(obs: Observation) -> dict[str, Any]:
    """The event record ``ControlState`` reads, rebuilt from an observation."""
    return {
        "event_id": obs.event_id, "time": datetime.fromtimestamp(obs.time, UTC),
        "workflow_id": obs.workflow_id, "agent": {"name": obs.agent, "owner": obs.owner},
        "payload": (AVRO_NAMES[obs.kind], {k: _number(v) for k, v in obs.payload.items()}),
    }  # fmt: skip


class ForgedControl:
    name = "forged"

    def __init__(self, authority: Authority) -> None:
        self._authority = authority

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind == "approval_requested":
            requests = state.setdefault("requests", {})
            requests[obs.payload["approval_id"]] = [now, obs.to_list()]
            if len(requests) > _KEEP_REQUESTS:
                del requests[next(iter(requests))]
            return state, []
        if obs.kind not in SIGNED_KINDS:
            return state, []
        subject = obs.payload.get("target_agent") or obs.agent
        refused: list[Forged] = []
        if obs.kind in DECISIONS:
            asked = state.get("requests", {}).get(obs.payload.get("approval_id"))
            if asked is None:
                unasked = self._unasked(obs)
                return state, [] if unasked is None else [self._finding(obs, unasked, subject)]
            request = Observation.from_list(asked[1])
            subject = request.agent
        control = ControlState(authority=self._authority, on_forged=refused.append)
        if obs.kind in DECISIONS:
            control.apply(_record(request))
        control.apply(_record(obs))
        return state, [self._finding(obs, f, subject) for f in refused]

    def tick(self, state: State, now: float) -> Step:
        requests = state.get("requests", {})
        for approval_id in [k for k, (seen, _) in requests.items() if now - seen > _FORGET_AFTER_S]:
            del requests[approval_id]
        return ({"requests": requests} if requests else {}), []

    def _unasked(self, obs: Observation) -> Forged | None:
        """A decision on a request not seen here, judged on its signature alone: signed
        as this kind of decision, by the approver it names, with a key the governance
        file gives that person."""
        p = obs.payload
        decision = verify_signed(p.get("signed") or "", p.get("signature") or "",
                                 self._authority.people_keys)  # fmt: skip
        if isinstance(decision, Refused):
            why = "unsigned" if not p.get("signed") else decision.reason
        elif decision.kind != obs.kind or decision.signer != p.get("approver"):
            why = "signed for another kind or signer"
        elif decision.subject != p.get("approval_id"):
            why = "signed for another approval"
        else:
            return None
        return Forged(obs.event_id, obs.kind, obs.agent, why)

    @staticmethod
    def _finding(obs: Observation, forged: Forged, subject: str) -> Finding:
        return Finding(
            "forged",
            f"forged-control:{forged.event_id}",
            f"forged control entry: {forged.kind} {forged.event_id} (from {forged.agent!r}) "
            f"ignored: {forged.reason}",
            subject,
            obs.owner,
            obs.workflow_id,
            "critical",
            None,
            (forged.event_id,),
        )
