"""Decision-rights violations, kept per workflow: an action executed after a deny or
needs-approval verdict without a granted approval, with no verdict where the rules require
one, or on work its agent had rejected.

Verdicts and approvals may arrive after the execution they cover (other producers, other
partitions), so an execution is judged ``grace_s`` after it was seen, on all that arrived
by then.

Rejected work is judged by causation: an execution acts on the handoff nearest up its
``caused_by`` chain that handed work to its agent (an offer to it, or its own answer to
one). On a handoff it rejected it is a violation; on one it accepted it is not, whatever
it rejected before (reject, then accept a re-offer, then act: nobody is paged). Links are
kept once the workflow has a handoff, for the last ``_MEMORY`` events. When the chain
names no handoff (no ``caused_by``, or a link not kept), the agent's latest answer in the
workflow before the execution decides: a rejection is a violation.
"""

from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase
from typing import Any

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.schemas.vocabulary import APPROVAL_STATES

_FORGET_AFTER_S = 86_400.0
_MEMORY = 5_000
"""Most causation links, handoff events and answers kept per workflow (the oldest go)."""
_HANDOFFS = {"handoff_offered": "offered", "handoff_accepted": "accepted",
             "handoff_rejected": "rejected"}  # fmt: skip
_JUDGED = {"policy_verdict", "action_executed", *_HANDOFFS, *APPROVAL_STATES}


class DecisionRights:
    name = "rights"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind not in _JUDGED and "handoffs" not in state:
            return state, []  # a causation link: kept once the workflow has a handoff
        p = obs.payload
        state["workflow"], state["last"] = obs.workflow_id, now
        if obs.kind == "policy_verdict":
            state.setdefault("verdicts", []).append(
                [obs.time, obs.agent, p["action"], p["effect"], obs.event_id]
            )
        elif obs.kind in APPROVAL_STATES:
            approval = state.setdefault("approvals", {}).setdefault(p["approval_id"], {})
            if obs.kind == "approval_requested":
                approval.update(action=p["action"], agent=obs.agent)
            else:
                approval.update(state=APPROVAL_STATES[obs.kind], decided_by=obs.event_id)
        elif obs.kind in _HANDOFFS:
            _handoff(state, obs)
        elif obs.kind == "action_executed":
            rules = self._rules.for_(obs.agent, p["action"]).rights
            state.setdefault("executions", []).append({
                "due": now + rules.grace_s, "time": obs.time, "agent": obs.agent,
                "owner": obs.owner, "action": p["action"], "approval": p.get("approval_id"),
                "event": obs.event_id, "cause": obs.causation_id and _short(obs.causation_id),
            })  # fmt: skip
        if "handoffs" in state and obs.causation_id is not None:
            parents = state.setdefault("parents", {})
            _remember(parents, _short(obs.event_id), _short(obs.causation_id))
        return state, []

    def tick(self, state: State, now: float) -> Step:
        if not state:
            return state, []
        waiting = state.get("executions", [])
        findings = [self._judge(state, e) for e in waiting if e["due"] <= now]
        state["executions"] = [e for e in waiting if e["due"] > now]
        if not state["executions"] and now - state["last"] > _FORGET_AFTER_S:
            state = {}  # a finished workflow: its state goes
        return state, [f for f in findings if f is not None]

    def _judge(self, state: State, e: dict[str, Any]) -> Finding | None:
        approvals: dict[str, dict[str, Any]] = state.get("approvals", {})
        action, agent = e["action"], e["agent"]

        def found(why: str, *evidence: str) -> Finding:
            return Finding(
                self.name,
                f"rights:{state['workflow']}:{e['event']}",
                f"{agent} executed {action} {why}",
                agent,
                e["owner"],
                state["workflow"],
                "critical",
                None,
                (e["event"], *evidence),
            )

        rejection = _rejected_work(state, e)
        if rejection is not None:
            return found("after rejecting the handoff it acts on", rejection)
        granted = [
            a for a in approvals.values()
            if a.get("state") == "granted" and a.get("action", action) == action
        ]  # fmt: skip
        if e["approval"] is not None:
            approval = approvals.get(e["approval"], {})
            if approval.get("state") == "granted":
                return None
            status = approval.get("state", "unknown")
            return found(f"under approval {e['approval']}, which is {status}")
        verdicts = [
            v for v in state.get("verdicts", [])
            if v[1] == agent and v[2] == action and v[0] <= e["time"]
        ]  # fmt: skip
        if verdicts:
            latest = max(verdicts, key=lambda v: v[0])  # by time: verdicts may come late
            effect, verdict_id = latest[3], latest[4]
            if effect == "allow":
                return None
            if effect == "deny":
                return found("after a deny verdict", verdict_id)
            if granted:
                return None
            return found(f"after a {effect} verdict without a granted approval", verdict_id)
        rules = self._rules.for_(agent, action).rights
        if any(fnmatchcase(action, pattern) for pattern in rules.require_verdict):
            if granted:
                return None
            return found("with no verdict, which the rules require")
        return None


def _handoff(state: State, obs: Observation) -> None:
    """Keep a handoff event (by short hash): the handoff, whom it hands work to, its kind
    and, for a rejection, its event id (the evidence); and each answer with its time."""
    kind, handoff_id = _HANDOFFS[obs.kind], _short(obs.payload["handoff_id"])
    receiver = obs.payload.get("to_agent") if kind == "offered" else obs.agent
    kept = [handoff_id, receiver, kind, obs.event_id if kind == "rejected" else None]
    _remember(state.setdefault("handoffs", {}), _short(obs.event_id), kept)
    if kind != "offered":
        answers = state.setdefault(kind, [])
        evidence = obs.event_id if kind == "rejected" else ""  # only a rejection is shown
        answers.append([obs.time, obs.agent, evidence, handoff_id])
        del answers[:-_MEMORY]


def _remember(kept: dict[str, Any], key: str, value: Any) -> None:
    kept[key] = value
    if len(kept) > _MEMORY:
        del kept[next(iter(kept))]  # the oldest (dicts keep their order, JSON too)


def _short(event_id: str) -> str:
    """An id as the links keep it: 12 hex digits of its hash (a third of its size)."""
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


def _rejected_work(state: State, e: dict[str, Any]) -> str | None:
    """The rejection an execution acts on (its event id); None when it acts on accepted
    work, on none, or its agent's latest answer before it was not a rejection."""
    agent, when = e["agent"], e["time"]
    answers = [  # [time, agent, event, handoff, rejected?]; answers of 3 fields: earlier versions
        [*a[:3], a[3] if len(a) > 3 else None, kind == "rejected"]
        for kind in ("accepted", "rejected")
        for a in state.get(kind, [])
        if a[1] == agent
    ]
    found = _acted_on(state, e.get("cause"), agent)
    if found is not None:
        handoff_id, _, kind, rejection = found
        if kind != "offered":
            return rejection if kind == "rejected" else None
        mine = [a for a in answers if a[3] == handoff_id and a[0] <= when]  # to that offer
        if any(not a[4] for a in mine):
            return None
        return mine[-1][2] if mine else None
    before = sorted((a for a in answers if a[0] <= when), key=lambda a: a[0])
    return before[-1][2] if before and before[-1][4] else None


def _acted_on(state: State, cause: str | None, agent: str) -> list[Any] | None:
    """The nearest handoff event up the causation chain from ``cause`` (a short id) that
    hands work to ``agent``: [handoff, receiver, kind, rejection]; None if the chain names
    none."""
    handoffs: dict[str, list[Any]] = state.get("handoffs", {})
    parents: dict[str, str] = state.get("parents", {})
    seen: set[str] = set()
    while cause is not None and cause not in seen:  # a forged cycle ends the walk
        seen.add(cause)
        handoff = handoffs.get(cause)
        if handoff is not None and handoff[1] == agent:
            return handoff
        cause = parents.get(cause)
    return None
