"""Silence: an agent that heartbeats and then stops. Kept per agent over all its sessions:
the agent is silent when no session heartbeated within ``missed_heartbeats`` of its own
interval (a heartbeat with status ``stopped`` ends a session's duty). Measured on the
processor's clock, so producer clock skew cannot fake or hide it.

An interval that is not a positive, finite number (NaN, ±inf, zero, negative, or one so
large the deadline overflows) counts as unsaid: the rules' ``heartbeat_interval_s``
applies, so a hostile interval can neither hide silence nor put a non-number in the
state. A deadline saved as ``null`` by an earlier version (a NaN or an infinity, through
JSON) starts over from the next tick, as if the session had just heartbeated."""

from __future__ import annotations

from handrail.config.thresholds import DetectorRules, SilenceRules
from handrail.humanize import duration, plural
from handrail.processors.detectors.base import State, Step
from handrail.processors.detectors.numbers import amount, finite
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

STOPPED = "stopped"


class Silence:
    name = "silence"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind != "heartbeat":
            return state, []
        rules = self._rules.for_(obs.agent).silence
        sessions = state.setdefault("sessions", {})
        if obs.payload.get("status") == STOPPED:
            sessions.pop(obs.session_id, None)
        else:
            interval = amount(obs.payload.get("interval_s")) or rules.heartbeat_interval_s
            due = finite(now + interval * rules.missed_heartbeats)
            sessions[obs.session_id] = due or _due(rules, now)
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
        if not sessions or state.get("open"):
            return state, []
        agent, owner = state["who"]
        for session_id, due in sessions.items():
            if finite(due) is None:  # saved as null by an earlier version
                sessions[session_id] = _due(self._rules.for_(agent).silence, now)
        if max(sessions.values()) > now:
            return state, []
        state["open"] = True
        missed = self._rules.for_(agent).silence.missed_heartbeats
        late = now - max(sessions.values())  # past the deadline: ~0 unless ticks were late
        whose = "its session" if len(sessions) == 1 else f"each of its {len(sessions)} sessions"
        return state, [Finding(
            self.name, f"silence:{agent}",
            f"{agent} stopped heartbeating: {whose} missed {plural(missed, 'heartbeat')} "
            f"in a row" + (f" (the deadline passed {duration(late)} ago)" if late >= 1 else ""),
            agent, owner, state["workflow"], "critical", None, (state["last"],),
        )]  # fmt: skip


def _due(rules: SilenceRules, now: float) -> float:
    """The deadline of a session whose heartbeat said no usable interval."""
    return now + rules.heartbeat_interval_s * rules.missed_heartbeats
