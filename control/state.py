"""The control channel as the SDK and the CLI see it: halts (the processors publish them on a
retry storm or a spend cap breach) and resumes (``handrail resume``); approval requests
and the decisions people take on them (``handrail approvals``); and the answers to
handoffs (accepted or rejected), so that a sender learns the outcome in its own process.

``ControlState`` is pure: it applies control events (they come from several partitions
and producers) and keeps, per halt target, the last halt applied; per approval and per
handoff, the first decision in channel order (one workflow's events share a partition, so
every reader sees the same first). A state built for one agent keeps only what concerns
that agent.

Decisions must prove who took them (``handrail.governance.signing``): a halt is signed by a
processor declared in the governance file, an approval's grant or denial by one of the
rule's approvers (never the requesting agent), a resume by one of the halt's resumers.
A resume names the halt it lifts (by event id), so it lifts that halt and none raised after
it; no claimed time orders anything. Any other halt, resume or decision is ignored and
kept in ``forged`` (and handed to ``on_forged``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from handrail.governance.authority import Authority
from handrail.governance.signing import Decision, Refused, verify_signed
from handrail.schemas import event_type
from handrail.schemas.strings import identifier_problem
from handrail.schemas.vocabulary import DECISIONS, ApprovalDecision

CONTROL_KINDS = frozenset({
    "halt", "resume", "approval_requested", "approval_granted", "approval_denied",
    "approval_expired", "handoff_accepted", "handoff_rejected",
})  # fmt: skip
"""Event types that are also sent to the control channel (besides the events topic)."""

Target = tuple[str, str | None]
"""(agent, operation id); None halts the whole agent."""

ApprovalState = Literal["pending"] | ApprovalDecision
FORGET = timedelta(days=1)
"""Decided approvals and handoff answers older than this are dropped from memory."""
_KEEP = 1000
"""Below this many approvals (answers) nothing is dropped."""
FORGED_KEPT = 1000
"""The most recent refused entries kept in ``ControlState.forged``."""


def halt_target(payload: dict[str, Any]) -> Target:
    """What a halt or resume payload is about."""
    operation = payload["operation_id"] if payload["scope"] == "operation" else None
    return payload["target_agent"], operation


@dataclass(frozen=True, slots=True)
class HaltNotice:
    """A halt in force (or lifted: ``halted`` False)."""

    time: datetime
    halted: bool
    reason: str
    alert: str | None
    event_id: str = ""
    """The halt's event id (shown to people)."""
    nonce: str = ""
    """The halt's signed nonce: what a resume names to lift it (an event id is not signed,
    so a copy of a halt could be given a lifted one's)."""

    def describe(self, target: Target) -> str:
        agent, operation = target
        what = f"operation {operation} of {agent}" if operation else f"agent {agent}"
        lift = f"handrail resume {agent}" + (f" --operation {operation}" if operation else "")
        alert = f" (alert {self.alert})" if self.alert else ""
        return f"{what} is halted: {self.reason}{alert}; lift with `{lift}`"


@dataclass(slots=True)
class ApprovalRequest:
    """One approval an agent asked for, and what became of it."""

    approval_id: str
    agent: str
    action: str
    resource: str | None
    cost_usd: float | None
    reason: str
    workflow_id: str
    event_id: str
    requested_at: datetime
    expires_at: datetime | None
    state: ApprovalState = "pending"
    decided_by: str | None = None
    """The approver (granted or denied), or the agent itself (expired)."""
    decision_reason: str | None = None
    decided_at: datetime | None = None
    decision_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Forged:
    """A control entry that was ignored: unsigned, badly signed, or signed by someone
    without the right."""

    event_id: str
    kind: str
    agent: str
    """The agent the entry claims to come from."""
    reason: str


@dataclass(frozen=True, slots=True)
class HandoffAnswer:
    """The receiver's answer to a handoff."""

    handoff_id: str
    accepted: bool
    receiver: str
    reason: str | None
    failed_checks: tuple[str, ...]
    event_id: str
    time: datetime


class ControlState:
    def __init__(
        self,
        agent: str | None = None,
        authority: Authority | None = None,
        on_forged: Callable[[Forged], None] | None = None,
    ) -> None:
        """``agent``: keep only what concerns it (None: everything, as the CLI needs).
        ``authority``: whose signatures count for what (None: nobody's, so no halt, resume
        or decision is accepted). ``on_forged``: called with each refused entry."""
        self._agent = agent
        self._authority = authority or Authority()
        self._on_forged = on_forged
        self._targets: dict[Target, HaltNotice] = {}
        self._lifted: set[tuple[Target, str]] = set()
        """(target, signed nonce) of the halts a permitted resume of that target lifted
        (seen before or after the halt)."""
        self._nonces: set[str] = set()
        """Nonces of the halts and resumes applied: a copy appended again is ignored."""
        self.forged: deque[Forged] = deque(maxlen=FORGED_KEPT)
        """The most recent refused entries, oldest first."""
        self.forged_count = 0
        self.approvals: dict[str, ApprovalRequest] = {}
        self.answers: dict[str, HandoffAnswer] = {}
        # Prune approvals (answers) past this many: twice what the last pruning kept, so a
        # day with many of them costs O(1) per event amortized, not a pass over them each.
        self._approvals_bound = self._answers_bound = _KEEP

    def apply(self, record: dict[str, Any], halts: bool = True) -> None:
        """Apply one control entry. ``halts``: whether it comes from where halts and
        resumes travel (on Kafka, the halts topic only; agents write the control topic)."""
        kind = event_type(record)
        if kind not in CONTROL_KINDS:
            return
        p = record["payload"][1]
        if kind in ("halt", "resume") and not halts:
            self._forge(record, kind, "a halt or resume off the halts topic")
        elif kind in ("halt", "resume"):
            self._halt(record, kind == "halt", p)
        elif kind == "approval_requested":
            self._request(record, p)
        elif kind in DECISIONS:
            self._decide(record, DECISIONS[kind], p)
        elif self._agent in (None, p["from_agent"]) and p["handoff_id"] not in self.answers:
            self._answer(record, kind == "handoff_accepted", p)

    def halt(self, agent: str, operation: str | None = None) -> str | None:
        """Why ``agent`` (or this operation of it) may not act now; None if it may."""
        if not self._targets:  # no halt was ever seen: the common case, at once
            return None
        for target in ((agent, None), (agent, operation)) if operation else ((agent, None),):
            notice = self.in_force(target)
            if notice is not None:
                return notice.describe(target)
        return None

    def in_force(self, target: Target) -> HaltNotice | None:
        """The halt in force on ``target`` exactly (not its agent's), if any."""
        notice = self._targets.get(target)
        if notice is None or not notice.halted or (target, notice.nonce) in self._lifted:
            return None
        return notice

    def halts_in_force(self) -> list[tuple[Target, HaltNotice]]:
        """Every halt in force, oldest first."""
        found = [(t, n) for t in self._targets if (n := self.in_force(t)) is not None]
        return sorted(found, key=lambda pair: pair[1].time)

    def pending(self) -> list[ApprovalRequest]:
        """Approvals nobody decided yet, oldest first."""
        waiting = [a for a in self.approvals.values() if a.state == "pending"]
        return sorted(waiting, key=lambda a: a.requested_at)

    def _halt(self, record: dict[str, Any], halted: bool, p: dict[str, Any]) -> None:
        target = halt_target(p)
        kind = "halt" if halted else "resume"
        signers = self._authority.processor_keys if halted else self._authority.people_keys
        decision = self._verified(record, kind, p, signers)
        if decision is None:
            return
        agent, operation = target
        refusal = _mismatch(decision, agent=agent, subject=operation or "", reason=p["reason"])
        if refusal is None and halted:
            refusal = _mismatch(decision, refers_to=p.get("alert_dedup_key") or "")
        elif refusal is None:
            refusal = _mismatch(decision, signer=p["by"])
            if refusal is None and decision.signer not in self._authority.resumers(agent):
                refusal = f"{decision.signer!r} may not lift halts of {agent}"
        if refusal is not None:
            self._forge(record, kind, refusal)
            return
        if decision.nonce in self._nonces:
            return  # the same decision again (a redelivery, or a copy): already applied
        self._nonces.add(decision.nonce)
        if halted:  # the last halt applied is the one in force: channel order, not time
            event_id = str(record["event_id"])
            alert = p.get("alert_dedup_key")
            self._targets[target] = HaltNotice(
                record["time"], True, p["reason"], alert, event_id, decision.nonce
            )
        else:  # the resume's target was checked against what its signer signed
            self._lifted.add((target, decision.refers_to))

    def _verified(
        self, record: dict[str, Any], kind: str, p: dict[str, Any], signers: Any
    ) -> Decision | None:
        """The entry's signed decision if its signature verifies and it is of this kind;
        else None, the entry kept as forged."""
        signed, signature = p.get("signed"), p.get("signature")
        if not signed or not signature:
            self._forge(record, kind, "unsigned")
            return None
        decision = verify_signed(signed, signature, signers)
        if isinstance(decision, Refused):
            self._forge(record, kind, decision.reason)
            return None
        if decision.kind != kind:
            self._forge(record, kind, f"signed as {decision.kind}, not {kind}")
            return None
        return decision

    def _forge(self, record: dict[str, Any], kind: str, reason: str) -> None:
        forged = Forged(str(record["event_id"]), kind, record["agent"]["name"], reason)
        self.forged.append(forged)
        self.forged_count += 1
        if self._on_forged is not None:
            self._on_forged(forged)

    def _request(self, record: dict[str, Any], p: dict[str, Any]) -> None:
        agent = record["agent"]["name"]
        if self._agent not in (None, agent) or p["approval_id"] in self.approvals:
            return
        why = identifier_problem(p["approval_id"]) or identifier_problem(p["action"])
        if why is not None:  # written around the SDK: a person could be shown another id
            self._forge(record, "approval_requested", f"an approval request's id or action: {why}")
            return
        self.approvals[p["approval_id"]] = ApprovalRequest(
            p["approval_id"], agent, p["action"], p.get("resource"), p.get("cost_usd"),
            p["reason"], record["workflow_id"], str(record["event_id"]), record["time"],
            p.get("expires_at"),
        )  # fmt: skip
        self._forget(record["time"])

    def _decide(self, record: dict[str, Any], state: ApprovalState, p: dict[str, Any]) -> None:
        request = self.approvals.get(p["approval_id"])
        if request is None:
            return  # not ours (or asked before this reader's memory)
        signer = request.agent  # an expiry is the waiting agent's own
        if state != "expired":
            kind = event_type(record)
            decision = self._verified(record, kind, p, self._authority.people_keys)
            if decision is None:
                return
            refusal = _mismatch(
                decision, signer=p["approver"], agent=request.agent, subject=request.approval_id,
                refers_to=request.event_id, reason=p["reason"], workflow_id=request.workflow_id,
            )  # fmt: skip
            if refusal is None and decision.signer not in self._authority.approvers(
                request.agent, request.action, request.resource, request.cost_usd
            ):
                refusal = f"{decision.signer!r} may not decide {request.agent}'s {request.action}"
            if refusal is not None:
                self._forge(record, kind, refusal)
                return
            signer = decision.signer
        if request.state != "pending":
            return  # decided already: the first decision stands
        request.state, request.decided_at = state, record["time"]
        request.decided_by, request.decision_reason = signer, p.get("reason")
        request.decision_event_id = str(record["event_id"])

    def _answer(self, record: dict[str, Any], accepted: bool, p: dict[str, Any]) -> None:
        failed = tuple(c["name"] for c in p.get("checks") or () if not c["passed"])
        self.answers[p["handoff_id"]] = HandoffAnswer(
            p["handoff_id"], accepted, record["agent"]["name"], p.get("reason"), failed,
            str(record["event_id"]), record["time"],
        )  # fmt: skip
        self._forget(record["time"])

    def _forget(self, now: datetime) -> None:
        """Bound memory in a long-lived agent: drop what was settled a day ago."""
        cutoff = now - FORGET
        if len(self.approvals) > self._approvals_bound:
            self.approvals = {
                k: a for k, a in self.approvals.items()
                if a.state == "pending" or (a.decided_at or a.requested_at) > cutoff
            }  # fmt: skip
            self._approvals_bound = max(_KEEP, 2 * len(self.approvals))
        if len(self.answers) > self._answers_bound:
            self.answers = {k: a for k, a in self.answers.items() if a.time > cutoff}
            self._answers_bound = max(_KEEP, 2 * len(self.answers))


def _mismatch(decision: Decision, **expected: str) -> str | None:
    """Why the signed ``decision`` is not about what the entry carrying it says; None if
    every expected field matches (a signature moved onto another entry fails here)."""
    for name, value in expected.items():
        if getattr(decision, name) != value:
            return f"signed for another {name.replace('_', ' ')}"
    return None
