"""Handoffs, kept under the receiving agent: the rejection rate of each edge (A -> B) in a
window, every rejection on an edge marked critical, and offers nobody answered before the
edge's deadline (stalled). An answer may arrive before its offer; either order works.

State stays small whatever the traffic: an edge's window is counted in ``_BUCKETS``
buckets (answers, rejections) with the latest rejections kept as evidence, and answered
handoffs are remembered by a short hash, the latest ``_ANSWERED_MEMORY`` of them (enough
to tell a redelivered offer from a new one)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from handrail.config.thresholds import DetectorRules
from handrail.humanize import duration
from handrail.processors.detectors.base import EVIDENCE, State, Step, ids, window_add
from handrail.processors.detectors.numbers import finite
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

_ANSWERED_MEMORY = 1_000
_BUCKETS = 30


def _short(handoff_id: str) -> str:
    return hashlib.blake2b(handoff_id.encode(), digest_size=6).hexdigest()


class Handoffs:
    name = "handoffs"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        p = obs.payload
        if obs.kind == "handoff_offered":
            return state, self._offered(state, obs, p, now)
        if obs.kind in ("handoff_accepted", "handoff_rejected"):
            return state, self._answered(state, obs, p)
        return state, []

    def _offered(
        self, state: State, obs: Observation, p: dict[str, Any], now: float
    ) -> list[Finding]:
        answered = _short(p["handoff_id"]) in state.get("answered", {})
        if answered or p["handoff_id"] in state.get("pending", {}):
            return []  # answered already, or a redelivered offer
        edge = f"{obs.agent}->{p['to_agent']}"
        rules = self._rules.for_(p["to_agent"], edge=edge).handoff
        deadline_s = rules.deadline_s
        deadline = finite(p.get("deadline"))  # none, or not a number: the rules' deadline
        if deadline is not None:  # the sender's clock: keep only the duration
            deadline_s = max(0.0, deadline - obs.time)
        state.setdefault("pending", {})[p["handoff_id"]] = {
            "edge": edge, "due": now + deadline_s, "deadline_s": deadline_s,
            "offer": obs.event_id, "workflow": obs.workflow_id, "task": p["task"],
            "receiver": [p["to_agent"], obs.owner], "stalled": False,
        }  # fmt: skip
        return []

    def _answered(self, state: State, obs: Observation, p: dict[str, Any]) -> list[Finding]:
        answered = state.setdefault("answered", {})
        answered[_short(p["handoff_id"])] = 1
        if len(answered) > _ANSWERED_MEMORY:
            del answered[next(iter(answered))]
        findings = []
        offer = state.setdefault("pending", {}).pop(p["handoff_id"], None)
        edge = f"{p['from_agent']}->{obs.agent}"
        if offer is not None and offer["stalled"]:
            findings.append(Finding(
                self.name, f"handoff-stalled:{edge}:{p['handoff_id']}",
                f"handoff {p['handoff_id']} on {edge} was answered at last",
                obs.agent, offer["receiver"][1], obs.workflow_id, resolved=True,
            ))  # fmt: skip
        rules = self._rules.for_(obs.agent, edge=edge).handoff
        rejected = obs.kind == "handoff_rejected"
        e = state.setdefault("edges", {}).setdefault(edge, {"counts": {}, "open": False})
        n, bad = _count(e, obs.time, rejected, rules.window_s)
        why = p.get("reason", "")
        if rejected:
            window_add(e.setdefault("rejected", []), obs.time, obs.event_id, rules.window_s)
            del e["rejected"][:-EVIDENCE]
            e["why"] = why  # the latest rejection's reason (an acceptance may tip the rate)
        if rejected and rules.critical:
            findings.append(Finding(
                self.name, f"handoff-rejected:{edge}:{p['handoff_id']}",
                f"{obs.agent} rejected handoff {p['handoff_id']} from {p['from_agent']} "
                f"on critical edge {edge}: {why}",
                obs.agent, obs.owner, obs.workflow_id, "critical", None, (obs.event_id,),
            ))  # fmt: skip
        rate = bad / n
        if not e["open"] and n >= rules.min_answers and rate >= rules.reject_rate:
            e["open"] = True
            findings.append(Finding(
                self.name, f"handoff-reject-rate:{edge}",
                f"{bad} of the last {n} handoffs on {edge} were rejected ({rate:.0%}, "
                f"limit {rules.reject_rate:.0%})"
                + (f"; the latest rejection: {e['why']}" if e.get("why") else ""),
                obs.agent, obs.owner, obs.workflow_id, "warning", None,
                ids(e.get("rejected", [])),
            ))  # fmt: skip
        elif e["open"] and rate < rules.reject_rate / 2:
            e["open"] = False
            findings.append(Finding(
                self.name, f"handoff-reject-rate:{edge}",
                f"rejections on {edge} are down to {rate:.0%}",
                obs.agent, obs.owner, obs.workflow_id, resolved=True,
            ))  # fmt: skip
        return findings

    def tick(self, state: State, now: float) -> Step:
        findings = []
        for handoff_id, offer in state.get("pending", {}).items():
            if offer["stalled"] or now < offer["due"]:
                continue
            offer["stalled"] = True
            receiver, owner = offer["receiver"]
            findings.append(Finding(
                self.name, f"handoff-stalled:{offer['edge']}:{handoff_id}",
                f"handoff {handoff_id} on {offer['edge']} ({offer['task']}) was neither "
                f"accepted nor rejected within {duration(offer['deadline_s'])}",
                receiver, owner, offer["workflow"], "warning", None, (offer["offer"],),
            ))  # fmt: skip
        return state, findings


def _count(e: dict[str, Any], time: float, rejected: bool, window_s: float) -> tuple[int, int]:
    """Count one answer in its bucket; return (answers, rejections) in the window."""
    width = window_s / _BUCKETS
    bucket = math.floor(time / width)
    newest = e["newest"] = max(bucket, e.get("newest", bucket))
    counts: dict[str, list[int]] = e["counts"]
    if bucket > newest - _BUCKETS:  # not too late to count
        c = counts.setdefault(str(bucket), [0, 0])
        c[0] += 1
        c[1] += rejected
    for b in [b for b in counts if int(b) <= newest - _BUCKETS]:
        del counts[b]
    return sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
