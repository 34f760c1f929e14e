"""Which detectors see which events, under which key (pure, no Faust).

State is keyed so that one partition owns each key: ``agent:<name>`` holds what is judged
per agent (its sessions' sequences, silence, retries, spend, bursts, and the handoffs it
receives: an offer is routed to its receiver too), ``workflow:<id>`` what is judged per
workflow (decision rights, and forged control entries when the processors hold the
governance file). ``routes`` says where an event goes; ``Detection`` runs the detectors
of a key over its state, skipping duplicates: by event id, but a control entry by its
content (a forged entry may carry a real one's event id).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kafka.partitioner.default import murmur2

from handrail.config.thresholds import DetectorRules
from handrail.governance.authority import Authority
from handrail.processors.detectors import Detector, State
from handrail.processors.detectors.bursts import Bursts
from handrail.processors.detectors.forged import SIGNED_KINDS, ForgedControl, entry_digest
from handrail.processors.detectors.handoffs import Handoffs
from handrail.processors.detectors.retries import RetryStorm
from handrail.processors.detectors.rights import DecisionRights
from handrail.processors.detectors.sequence import SequenceGaps, duplicate
from handrail.processors.detectors.silence import Silence
from handrail.processors.detectors.spend import SpendDrift
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

RIGHTS_KINDS = frozenset({
    "policy_verdict", "action_executed", "handoff_rejected", "approval_requested",
    "approval_granted", "approval_denied", "approval_expired",
})  # fmt: skip
PER_WORKFLOW = RIGHTS_KINDS | {"halt", "resume", "handoff_offered", "handoff_accepted"}
"""Kinds judged per workflow: decision rights (with the handoffs an action may act on), and
the control entries' signatures."""
NEVER_A_CAUSE = frozenset({"heartbeat", "alert_raised", "alert_resolved", "alert_delivered"})
"""Kinds no action is caused by; any other event with a ``caused_by`` may link an action to
the handoff it acts on, so it goes to its workflow too."""
CONTROL_JUDGED = SIGNED_KINDS | {"approval_requested"}
"""Control entries read from the control channel itself, for the forgery check."""
HANDOFF_ANSWERS = frozenset({"handoff_accepted", "handoff_rejected"})
_SEEN_MEMORY = 5_000


@lru_cache(maxsize=1 << 16)  # murmur2 is pure Python, run for every event
def partition_of(key: str, partitions: int) -> int:
    """The keyed partition that owns ``key`` (Kafka's default partitioner: murmur2)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def routes(obs: Observation) -> list[str]:
    """The state keys an event updates."""
    keys = [f"agent:{obs.agent}"]
    if obs.kind == "handoff_offered" and obs.payload["to_agent"] != obs.agent:
        keys.append(f"agent:{obs.payload['to_agent']}")
    if obs.kind in PER_WORKFLOW or (obs.causation_id is not None and obs.kind not in NEVER_A_CAUSE):
        keys.append(f"workflow:{obs.workflow_id}")
    return keys


class Detection:
    """Every detector, dispatched by key."""

    def __init__(self, rules: DetectorRules, authority: Authority | None = None) -> None:
        """``authority``: the governance file's signers and rights; None (no governance
        file): control entries are not judged."""
        self.sequence = SequenceGaps(rules)
        self.handoffs = Handoffs(rules)
        self.rights = DecisionRights(rules)
        self.forged = None if authority is None else ForgedControl(authority)
        # Forgery first: a forged decision counts for nothing else (no forged grant
        # covers an execution in the rights detector's eyes).
        self.per_workflow: tuple[Detector, ...] = (
            (self.rights,) if self.forged is None else (self.forged, self.rights)
        )
        self.judges_control = authority is not None
        """Whether control entries are judged for forgery (a governance file is held)."""
        self.per_agent: tuple[Detector, ...] = (
            RetryStorm(rules), SpendDrift(rules), Silence(rules), Bursts(rules),
        )  # fmt: skip

    def observe(self, key: str, state: State, obs: Observation, now: float) -> list[Finding]:
        """Update ``state`` (in place) with one event; return the findings."""
        kind, _, name = key.partition(":")
        if kind == "workflow":
            return self._workflow(state, obs, now)
        if obs.agent != name:  # an offer, kept under its receiver
            return _run(self.handoffs, state, obs, now)
        if duplicate(state.get("sequence", {}), obs):
            return []
        findings = _run(self.sequence, state, obs, now)
        for detector in self.per_agent:
            findings += _run(detector, state, obs, now)
        offered_to_self = obs.kind == "handoff_offered" and obs.payload["to_agent"] == name
        if obs.kind in HANDOFF_ANSWERS or offered_to_self:
            findings += _run(self.handoffs, state, obs, now)
        return findings

    def _workflow(self, state: State, obs: Observation, now: float) -> list[Finding]:
        """Control entries are judged for forgery first, by their content whatever their
        event id (ids are readable on the channel and predictable: a forged entry may reuse
        a real one's); an entry judged before (the same bytes read from the events stream
        and the control channel, or redelivered) is not judged again. A forged entry stops
        there, as the agents ignore it, and never takes its event id from the real entry
        that may carry it; the rest are judged once per event id."""
        findings: list[Finding] = []
        if self.forged is not None and obs.kind in CONTROL_JUDGED:
            judged: dict[str, int] = state.setdefault("judged", {})
            digest = entry_digest(obs)
            if digest not in judged:
                findings = _run(self.forged, state, obs, now)
                judged[digest] = int(any(f.severity == "critical" for f in findings))
                _bound(judged)
            if judged[digest]:
                return findings
        seen: dict[str, Any] = state.setdefault("seen", {})
        if obs.event_id in seen:
            return findings
        seen[obs.event_id] = 1
        _bound(seen)
        return findings + _run(self.rights, state, obs, now)

    @staticmethod
    def pending(key: str, state: State) -> bool:
        """Can time alone still reveal something for this key? Always for an agent
        (silence, stalls, windows); for a workflow while an execution awaits judgement."""
        return not key.startswith("workflow:") or bool(state.get("rights", {}).get("executions"))

    def tick(self, key: str, state: State, now: float) -> list[Finding]:
        """What absence or time reveals for one key; empties ``state`` when it is done."""
        detectors: tuple[Detector, ...] = (
            self.per_workflow
            if key.startswith("workflow:")
            else (self.sequence, self.handoffs, *self.per_agent)
        )
        findings: list[Finding] = []
        for detector in detectors:
            if detector.name in state:
                part, found = detector.tick(state[detector.name], now)
                findings += found
                if part:
                    state[detector.name] = part
                else:
                    del state[detector.name]
        if key.startswith("workflow:") and not {d.name for d in self.per_workflow} & set(state):
            state.clear()
        return findings


def _bound(memory: dict[str, int]) -> None:
    """Forget the oldest entry of a memory past ``_SEEN_MEMORY``."""
    if len(memory) > _SEEN_MEMORY:
        del memory[next(iter(memory))]


def _run(detector: Detector, state: State, obs: Observation, now: float) -> list[Finding]:
    part = state.get(detector.name)
    if part is None:
        part = state[detector.name] = {}
    part, findings = detector.observe(part, obs, now)
    if part:
        state[detector.name] = part
    else:
        del state[detector.name]
    return findings
