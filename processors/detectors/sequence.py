"""Lost events: every producer session numbers its events 1, 2, 3, ... without gaps.

Kept per agent, per session: the highest sequence below which everything arrived, the
ones seen beyond it, and the ranges declared lost. Events of one session travel through
several partitions (one per workflow), so a hole is only a gap once it stayed open for
``gap_grace_s``; if the missing events turn up later the alert resolves. The same state
tells duplicates apart (``duplicate``), for every other detector.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from operator import itemgetter
from typing import Any

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors.base import State, Step
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

_RETIRED_MEMORY = 1_000
_SEQUENCE = itemgetter(0)


def _session(state: State, session_id: str) -> dict[str, Any] | None:
    sessions: dict[str, dict[str, Any]] = state.get("sessions", {})
    return sessions.get(session_id)


def duplicate(state: State, obs: Observation) -> bool:
    """Was this event (session, sequence) seen before?"""
    s = _session(state, obs.session_id)
    if s is None:
        return False
    seq = obs.sequence
    if seq > s["hi"]:
        ahead = s["ahead"]  # sorted by sequence: a binary search, however many wait
        i = bisect_left(ahead, seq, key=_SEQUENCE)
        return i < len(ahead) and ahead[i][0] == seq
    for lo, hi, filled, _key in s["lost"]:
        if lo <= seq <= hi:
            return seq in filled
    return True


class SequenceGaps:
    name = "sequence"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        sessions = state.setdefault("sessions", {})
        s = sessions.get(obs.session_id)
        if s is None:
            hi = state.get("retired", {}).pop(obs.session_id, 0)  # an idle session resumes
            s = sessions[obs.session_id] = {"hi": hi, "ahead": [], "since": None, "lost": []}
        s.update(last=now, who=[obs.agent, obs.owner], workflow=obs.workflow_id)
        seq = obs.sequence
        findings = []
        if seq <= s["hi"]:  # a late event of a range declared lost
            for lost in s["lost"]:
                lo, hi, filled, key = lost
                if lo <= seq <= hi:
                    filled.append(seq)
                    if len(filled) == hi - lo + 1:
                        s["lost"].remove(lost)
                        findings.append(Finding(
                            self.name, key, f"the missing events {lo}..{hi} of session "
                            f"{obs.session_id} arrived late", obs.agent, obs.owner,
                            obs.workflow_id, resolved=True,
                        ))  # fmt: skip
                    break
            return state, findings
        insort(s["ahead"], [seq, obs.event_id])
        _settle(s)
        if s["ahead"] and s["since"] is None:
            s["since"] = now
        return state, findings

    def tick(self, state: State, now: float) -> Step:
        findings = []
        for session_id, s in list(state.get("sessions", {}).items()):
            agent, owner = s["who"]
            rules = self._rules.for_(agent).silence
            while s["ahead"] and s["since"] is not None and now - s["since"] >= rules.gap_grace_s:
                lo, hi = s["hi"] + 1, s["ahead"][0][0] - 1
                key = f"sequence-gap:{agent}:{session_id}:{lo}"
                s["lost"].append([lo, hi, [], key])
                findings.append(Finding(
                    self.name, key,
                    f"{hi - lo + 1} event(s) of {agent} are missing: session {session_id} "
                    f"jumps from {lo - 1} to {hi + 1}",
                    agent, owner, s["workflow"], "critical", None, (s["ahead"][0][1],),
                ))  # fmt: skip
                s["hi"] = hi
                _settle(s)
                s["since"] = s["since"] if s["ahead"] else None
            if not s["ahead"] and not s["lost"] and now - s["last"] > rules.session_ttl_s:
                del state["sessions"][session_id]
                retired = state.setdefault("retired", {})
                retired[session_id] = s["hi"]
                if len(retired) > _RETIRED_MEMORY:
                    del retired[next(iter(retired))]
        return state, findings


def _settle(s: dict[str, Any]) -> None:
    """Advance ``hi`` over the events that now follow on without a hole."""
    ahead, hi = s["ahead"], s["hi"]
    while ahead and ahead[0][0] == s["hi"] + 1:
        s["hi"] += 1
        ahead.pop(0)
    if not ahead:
        s["since"] = None
    elif s["hi"] != hi:
        s["since"] = s["last"]  # a new hole: its own grace period
