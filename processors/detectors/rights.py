"""Decision-rights violations, kept per workflow: an action executed after a deny or
needs-approval verdict without a granted approval, with no verdict where the rules require
one, or by an agent that had rejected the work it acts on.

Verdicts and approvals may arrive after the execution they cover (other producers, other
partitions), so an execution is judged ``grace_s`` after it was seen, on all that arrived
by then.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.processors.thresholds import DetectorRules

_FORGET_AFTER_S = 86_400.0
_APPROVALS = {"approval_requested": "requested", "approval_granted": "granted",
              "approval_denied": "denied", "approval_expired": "expired"}  # fmt: skip


class DecisionRights:
    name = "rights"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        p = obs.payload
        state["workflow"], state["last"] = obs.workflow_id, now
        if obs.kind == "policy_verdict":
            state.setdefault("verdicts", []).append(
                [obs.time, obs.agent, p["action"], p["effect"], obs.event_id]
            )
        elif obs.kind in _APPROVALS:
            approval = state.setdefault("approvals", {}).setdefault(p["approval_id"], {})
            if obs.kind == "approval_requested":
                approval.update(action=p["action"], agent=obs.agent)
            else:
                approval.update(state=_APPROVALS[obs.kind], decided_by=obs.event_id)
        elif obs.kind == "handoff_rejected":
            state.setdefault("rejected", []).append([obs.time, obs.agent, obs.event_id])
        elif obs.kind == "action_executed":
            rules = self._rules.for_(obs.agent, p["action"]).rights
            state.setdefault("executions", []).append({
                "due": now + rules.grace_s, "time": obs.time, "agent": obs.agent,
                "owner": obs.owner, "action": p["action"], "approval": p.get("approval_id"),
                "event": obs.event_id,
            })  # fmt: skip
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

        rejected = [r for r in state.get("rejected", []) if r[1] == agent and r[0] <= e["time"]]
        if rejected:
            return found("after rejecting the handoff it acts on", rejected[-1][2])
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
