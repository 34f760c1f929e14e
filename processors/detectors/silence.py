"""Silence: an agent that heartbeats and then stops. Kept per agent over all its sessions:
the agent is silent when no session heartbeated within ``missed_heartbeats`` of its own
interval (a heartbeat with status ``stopped`` ends a session's duty). Measured on the
processor's clock, so producer clock skew cannot fake or hide it."""

from __future__ import annotations

from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation
from handrail.processors.thresholds import DetectorRules

STOPPED = "stopped"


class Silence:
    name = "silence"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind != "heartbeat":
            return state, []
        rules = self._rules.for_(obs.agent).silence
        interval = obs.payload.get("interval_s") or rules.heartbeat_interval_s
        sessions = state.setdefault("sessions", {})
        if obs.payload.get("status") == STOPPED:
            sessions.pop(obs.session_id, None)
        else:
            sessions[obs.session_id] = now + interval * rules.missed_heartbeats
        state.update(who=[obs.agent, obs.owner], workflow=obs.workflow_id, last=obs.event_id)
        if state.get("open"):
            state["open"] = False
            return state, [Finding(
                self.name, f"silence:{obs.agent}", f"{obs.agent} is heartbeating again",
                obs.agent, obs.owner, obs.workflow_id, resolved=True,
            )]  # fmt: skip
        return state, []

    def tick(self, state: State, now: float) -> Step:
        sessions = state.get("sessions")
        if not sessions or state.get("open") or max(sessions.values()) > now:
            return state, []
        state["open"] = True
        agent, owner = state["who"]
        return state, [Finding(
            self.name, f"silence:{agent}",
            f"{agent} stopped heartbeating: no heartbeat from its {len(sessions)} "
            f"session(s) for {now - max(sessions.values()):.0f}s past the deadline",
            agent, owner, state["workflow"], "critical", None, (state["last"],),
        )]  # fmt: skip
