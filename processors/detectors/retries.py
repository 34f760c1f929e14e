"""Retry storms: one operation retried beyond its budget within a window, and an agent
whose retries across all operations exceed its rate. A storm also asks for a halt of the
operation; both clear after a quiet window."""

from __future__ import annotations

from handrail.config.thresholds import DetectorRules
from handrail.humanize import duration
from handrail.processors.detectors.base import State, Step, ids, window_add
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation


class RetryStorm:
    name = "retry_storm"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind != "retry":
            return state, []
        p = obs.payload
        rules = self._rules.for_(obs.agent, p["action"]).retry
        op_id = p["operation_id"]
        ops = state.setdefault("ops", {})
        op = ops.setdefault(op_id, {"retries": [], "open": False, "action": p["action"]})
        op.update(last=now, workflow=obs.workflow_id, who=[obs.agent, obs.owner])
        window_add(op["retries"], obs.time, obs.event_id, rules.window_s)
        agent = state.setdefault("agent", {"retries": [], "open": False})
        agent.update(last=now, workflow=obs.workflow_id, who=[obs.agent, obs.owner])
        window_add(agent["retries"], obs.time, obs.event_id, rules.window_s)
        findings = []
        if not op["open"] and len(op["retries"]) > rules.max_retries:
            op["open"] = True
            findings.append(Finding(
                self.name, f"retry-storm:{obs.agent}:{op_id}",
                f"{obs.agent} retried {p['action']} (operation {op_id}) "
                f"{len(op['retries'])} times within {duration(rules.window_s)} "
                f"(budget {rules.max_retries}); last reason: {p['reason']}",
                obs.agent, obs.owner, obs.workflow_id, "critical", op_id,
                ids(op["retries"]), halt="operation",
            ))  # fmt: skip
        if not agent["open"] and len(agent["retries"]) > rules.agent_max_retries:
            agent["open"] = True
            findings.append(Finding(
                self.name, f"retry-rate:{obs.agent}",
                f"{obs.agent} made {len(agent['retries'])} retries within "
                f"{duration(rules.window_s)} (limit {rules.agent_max_retries})",
                obs.agent, obs.owner, obs.workflow_id, "warning", None, ids(agent["retries"]),
            ))  # fmt: skip
        return state, findings

    def tick(self, state: State, now: float) -> Step:
        findings = []
        for op_id, op in list(state.get("ops", {}).items()):
            agent_name, owner = op["who"]
            quiet = self._rules.for_(agent_name, op["action"]).retry.window_s
            if now - op["last"] < quiet:
                continue
            del state["ops"][op_id]
            if op["open"]:
                findings.append(Finding(
                    self.name, f"retry-storm:{agent_name}:{op_id}",
                    f"no retries of operation {op_id} for {duration(quiet)}",
                    agent_name, owner, op["workflow"], "critical", op_id, resolved=True,
                ))  # fmt: skip
        agent = state.get("agent")
        if agent is not None:
            agent_name, owner = agent["who"]
            quiet = self._rules.for_(agent_name).retry.window_s
            if now - agent["last"] >= quiet:
                del state["agent"]
                if agent["open"]:
                    findings.append(Finding(
                        self.name, f"retry-rate:{agent_name}",
                        f"{agent_name}'s retries are back under the limit",
                        agent_name, owner, agent["workflow"], resolved=True,
                    ))  # fmt: skip
        return state, findings
