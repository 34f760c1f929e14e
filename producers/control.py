"""The control channel as the SDK and the CLI see it: halts (the processors publish them on a
retry storm or a spend cap breach) and resumes (``handrail resume``); approval requests
and the decisions people take on them (``handrail approvals``); and the answers to
handoffs (accepted or rejected), so that a sender learns the outcome in its own process.

``ControlState`` is pure: it applies control events (they come from several partitions
and producers) and keeps, per halt target, the latest by event time; per approval and per
handoff, the first decision in channel order (one workflow's events share a partition, so
every reader sees the same first). A state built for one agent keeps only what concerns
that agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from handrail.schemas import event_type

CONTROL_KINDS = frozenset({
    "halt", "resume", "approval_requested", "approval_granted", "approval_denied",
    "approval_expired", "handoff_accepted", "handoff_rejected",
})  # fmt: skip
"""Event types that are also sent to the control channel (besides the events topic)."""

Target = tuple[str, str | None]
"""(agent, operation id); None halts the whole agent."""

ApprovalState = Literal["pending", "granted", "denied", "expired"]
DECISIONS: dict[str, ApprovalState] = {
    "approval_granted": "granted", "approval_denied": "denied", "approval_expired": "expired",
}  # fmt: skip
FORGET = timedelta(days=1)
"""Decided approvals and handoff answers older than this are dropped from memory."""
_KEEP = 1000
"""Below this many approvals (answers) nothing is dropped."""


def halt_target(payload: dict[str, Any]) -> Target:
    """What a halt or resume payload is about."""
    operation = payload["operation_id"] if payload["scope"] == "operation" else None
    return payload["target_agent"], operation


@dataclass(frozen=True, slots=True)
class HaltNotice:
    time: datetime
    halted: bool
    reason: str
    alert: str | None

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
    def __init__(self, agent: str | None = None) -> None:
        """``agent``: keep only what concerns it (None: everything, as the CLI needs)."""
        self._agent = agent
        self._targets: dict[Target, HaltNotice] = {}
        self.approvals: dict[str, ApprovalRequest] = {}
        self.answers: dict[str, HandoffAnswer] = {}
        # Prune approvals (answers) past this many: twice what the last pruning kept, so a
        # day with many of them costs O(1) per event amortized, not a pass over them each.
        self._approvals_bound = self._answers_bound = _KEEP

    def apply(self, record: dict[str, Any]) -> None:
        kind = event_type(record)
        if kind not in CONTROL_KINDS:
            return
        p = record["payload"][1]
        if kind in ("halt", "resume"):
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
            notice = self._targets.get(target)
            if notice is not None and notice.halted:
                return notice.describe(target)
        return None

    def pending(self) -> list[ApprovalRequest]:
        """Approvals nobody decided yet, oldest first."""
        waiting = [a for a in self.approvals.values() if a.state == "pending"]
        return sorted(waiting, key=lambda a: a.requested_at)

    def _halt(self, record: dict[str, Any], halted: bool, p: dict[str, Any]) -> None:
        target = halt_target(p)
        notice = HaltNotice(record["time"], halted, p["reason"], p.get("alert_dedup_key"))
        current = self._targets.get(target)
        if current is None or notice.time >= current.time:
            self._targets[target] = notice

    def _request(self, record: dict[str, Any], p: dict[str, Any]) -> None:
        agent = record["agent"]["name"]
        if self._agent not in (None, agent) or p["approval_id"] in self.approvals:
            return
        self.approvals[p["approval_id"]] = ApprovalRequest(
            p["approval_id"], agent, p["action"], p.get("resource"), p.get("cost_usd"),
            p["reason"], record["workflow_id"], str(record["event_id"]), record["time"],
            p.get("expires_at"),
        )  # fmt: skip
        self._forget(record["time"])

    def _decide(self, record: dict[str, Any], state: ApprovalState, p: dict[str, Any]) -> None:
        request = self.approvals.get(p["approval_id"])
        if request is None or request.state != "pending":
            return  # not ours, or decided already: the first decision stands
        request.state, request.decided_at = state, record["time"]
        request.decided_by = p.get("approver") or record["agent"]["name"]
        request.decision_reason = p.get("reason")

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
