"""Bursts: many failed actions, or many escalations, from one agent within a window.
Clears when the window holds fewer than half the limit."""

from __future__ import annotations

from handrail.config.thresholds import BurstRules, DetectorRules
from handrail.humanize import duration
from handrail.processors.detectors.base import State, Step, ids, window_add, window_trim
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

_KINDS = {"action_failed": "errors", "escalation": "escalations"}


def _limit(rules: BurstRules, kind: str) -> int:
    return rules.max_errors if kind == "errors" else rules.max_escalations


class Bursts:
    name = "bursts"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        kind = _KINDS.get(obs.kind)
        if kind is None:
            return state, []
        rules = self._rules.for_(obs.agent).bursts
        b = state.setdefault(kind, {"events": [], "open": False})
        b.update(who=[obs.agent, obs.owner], workflow=obs.workflow_id, clock=now - obs.time)
        window_add(b["events"], obs.time, obs.event_id, rules.window_s)
        n, limit = len(b["events"]), _limit(rules, kind)
        if b["open"] or n <= limit:
            return state, []
        b["open"] = True
        return state, [Finding(
            self.name, f"{kind}-burst:{obs.agent}",
            f"{obs.agent}: {n} {kind} within {duration(rules.window_s)} (limit {limit})",
            obs.agent, obs.owner, obs.workflow_id, "warning", None, ids(b["events"]),
        )]  # fmt: skip

    def tick(self, state: State, now: float) -> Step:
        findings = []
        for kind, b in state.items():
            if not b["open"]:
                continue
            agent, owner = b["who"]
            rules = self._rules.for_(agent).bursts
            # the window ends at the producer's "now", estimated by the last offset seen
            window_trim(b["events"], now - b["clock"] - rules.window_s)
            if len(b["events"]) * 2 < _limit(rules, kind):
                b["open"] = False
                findings.append(Finding(
                    self.name, f"{kind}-burst:{agent}", f"{agent}'s {kind} calmed down",
                    agent, owner, b["workflow"], resolved=True,
                ))  # fmt: skip
        return state, findings
