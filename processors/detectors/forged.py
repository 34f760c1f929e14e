"""Forged control entries, kept per workflow: a halt, resume or approval decision on the
events stream whose signature does not verify, whose key the governance file does not
name, whose signer lacks the right, or that approves its own request. Each raises a
critical "forged control entry" alert; its event stays in the ledger as it came, so the
alert and the entry prove together what was refused and why.

The judgement is the agents' own (``producers.control.ControlState``), so the processors
and the agents never disagree on what counts: each entry is applied to a fresh state
holding only the approval request it answers (kept here, per workflow, for a day; the
first request with an approval id, as the agents keep it: a copycat request changes
nothing). A decision on a request not known here (older than a day, from before this
processor's state, or pushed out by more than ``_KEEP_REQUESTS`` later requests) is judged
on what it carries alone: its signature, kind, approver, approval id and workflow, and
that its signer is not the agent it decides for. If all of that holds, whether the signer
may decide that request cannot be checked: a "control entry not fully judged" warning
says so (never silence: a flood of requests must not let a person without the right
pass unseen), and the entry is not taken for a forgery.

An alert's dedup key names the entry by a digest of its content (``entry_digest``), not
by its event id alone: event ids are readable on the channel and predictable, so a
forged entry may reuse a real one's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from handrail.control.state import ControlState, Forged
from handrail.governance.authority import Authority
from handrail.governance.signing import Refused, verify_signed
from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding, Severity
from handrail.processors.observation import Observation
from handrail.schemas import AVRO_NAMES
from handrail.schemas.vocabulary import DECISIONS

SIGNED_KINDS = frozenset({"halt", "resume", "approval_granted", "approval_denied"})
"""What must carry a signed decision."""
_FORGET_AFTER_S = 86_400.0
_KEEP_REQUESTS = 1_000
"""Requests remembered per workflow, at most (the oldest go first)."""


def _number(value: Any) -> Any:
    """An observation's number as the record had it (NaN and ±inf travel by name)."""
    return float(value) if value in ("nan", "inf", "-inf") else value


def entry_digest(obs: Observation) -> str:
    """SHA-256 of everything an entry carries (envelope and payload): the same entry read
    twice (from the events stream and the control channel, or redelivered) has one digest;
    another entry under the same event id has another."""
    return hashlib.sha256(orjson.dumps(obs.to_list(), option=orjson.OPT_SORT_KEYS)).hexdigest()


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
            if obs.payload["approval_id"] in requests:
                return state, []  # the first request stands, as in the agents' state
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
                return state, [self._unasked(obs)]
            request = Observation.from_list(asked[1])
            subject = request.agent
        control = ControlState(authority=self._authority, on_forged=refused.append)
        if obs.kind in DECISIONS:
            control.apply(_record(request))
        control.apply(_record(obs))
        return state, [_forged(obs, f, subject) for f in refused]

    def tick(self, state: State, now: float) -> Step:
        requests = state.get("requests", {})
        for approval_id in [k for k, (seen, _) in requests.items() if now - seen > _FORGET_AFTER_S]:
            del requests[approval_id]
        return ({"requests": requests} if requests else {}), []

    def _unasked(self, obs: Observation) -> Finding:
        """A decision on a request not known here, judged on what it carries alone: signed
        as this kind of decision, by the approver it names (a person the governance file
        gives that key), for this approval id and workflow, never by the agent it decides
        for. Forged if any of that fails; else a warning: the signer's right to decide the
        request could not be checked."""
        p = obs.payload
        decision = verify_signed(p.get("signed") or "", p.get("signature") or "",
                                 self._authority.people_keys)  # fmt: skip
        if isinstance(decision, Refused):
            why = "unsigned" if not p.get("signed") or not p.get("signature") else decision.reason
        elif decision.kind != obs.kind or decision.signer != p.get("approver"):
            why = "signed for another kind or signer"
        elif decision.subject != p.get("approval_id"):
            why = "signed for another approval"
        elif decision.workflow_id != obs.workflow_id or decision.reason != p.get("reason"):
            why = "signed for another workflow or reason"
        elif decision.signer == decision.agent:
            why = f"{decision.signer!r} may not decide its own request"
        else:
            return _finding(
                obs, decision.agent, "warning",
                f"control entry not fully judged: {obs.kind} {obs.event_id} by "
                f"{decision.signer!r} answers approval {decision.subject}, whose request is not "
                f"known here (older than a day, from before this processor's state, or pushed "
                f"out by later requests): its signature verifies, but whether "
                f"{decision.signer!r} may decide it could not be checked",
            )  # fmt: skip
        return _forged(obs, Forged(obs.event_id, obs.kind, obs.agent, why), obs.agent)


def _forged(obs: Observation, forged: Forged, subject: str) -> Finding:
    return _finding(
        obs, subject, "critical",
        f"forged control entry: {forged.kind} {forged.event_id} (from {forged.agent!r}) "
        f"ignored: {forged.reason}",
    )  # fmt: skip


def _finding(obs: Observation, subject: str, severity: Severity, summary: str) -> Finding:
    """A finding on one entry, keyed by the entry's content (its event id, for the reader,
    and its digest): a forged entry reusing a real one's event id never passes for a repeat
    of another entry's alert."""
    return Finding(
        "forged", alert_key(obs, severity), summary, subject,
        obs.owner, obs.workflow_id, severity, None, (obs.event_id,),
    )  # fmt: skip


def alert_key(obs: Observation, severity: Severity = "critical") -> str:
    """The dedup key of the alert on an entry: ``forged-control:<event id>:<digest>`` (a
    warning: ``unjudged-control:...``)."""
    prefix = "forged-control" if severity == "critical" else "unjudged-control"
    return f"{prefix}:{obs.event_id}:{entry_digest(obs)[:32]}"
