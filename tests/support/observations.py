"""Observations for detector tests: one builder with schema-true defaults, a producer that
numbers its events, and a pipeline that runs ``Detection`` the way the worker does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from handrail.config.thresholds import DetectorRules
from handrail.processors.detection import Detection, routes
from handrail.processors.detectors import State
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation, decode_bundle, encode_bundle
from tests.support.samples import event_record

T0 = 1_800_000_000.0
"""A round epoch second (a multiple of 60): the start of every test's timeline."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    "handoff_offered": {"deadline": None},
    "spend": {"usd": 0.01, "action": None},
    "policy_verdict": {"effect": "allow", "cost_usd": None},
    "action_executed": {"approval_id": None},
    "approval_requested": {"expires_at": None},
    "heartbeat": {"interval_s": 10.0},
}


@cache
def _base(kind: str) -> dict[str, Any]:
    """The payload of the shared sample record, as an Observation carries it."""
    payload = Observation.from_record(event_record(kind)).payload
    return {**payload, **_DEFAULTS.get(kind, {})}


def obs(
    kind: str,
    *,
    at: float = T0,
    agent: str = "analyst",
    owner: str = "team-data",
    workflow: str = "wf-1",
    session: str = "s-1",
    seq: int = 1,
    event_id: str | None = None,
    cause: str | None = None,
    **fields: Any,
) -> Observation:
    """One observation of ``kind``; ``fields`` change payload fields (named as in the schema);
    ``cause``: the event it was caused by."""
    base = _base(kind)
    unknown = set(fields) - set(base)
    if unknown:
        raise TypeError(f"{kind} has no field(s) {sorted(unknown)}")
    event_id = event_id or f"{kind}-{uuid.uuid4().hex[:10]}"
    return Observation(
        event_id, kind, at, workflow, cause, agent, owner, session, seq, {**base, **fields}
    )


@dataclass
class Producer:
    """One agent session: numbers its events 1, 2, 3, ... and stamps them with its clock."""

    agent: str = "analyst"
    owner: str = "team-data"
    session: str = "s-1"
    skew: float = 0.0
    sequence: int = 0

    def emit(self, kind: str, at: float, **fields: Any) -> Observation:
        self.sequence += 1
        return obs(
            kind, at=at + self.skew, agent=self.agent, owner=self.owner,
            session=self.session, seq=self.sequence, **fields,
        )  # fmt: skip


def rules(**sections: dict[str, Any]) -> DetectorRules:
    """Rules whose every agent, action and edge gets ``sections`` changed."""
    return DetectorRules.model_validate({"overrides": [{"set": sections}]})


def through_keyed_topic(observation: Observation) -> Observation:
    """``observation`` as the detect stage reads it back from the keyed topic."""
    ((back,),) = decode_bundle(b"", encode_bundle([("key", observation)])).values()
    return back


class Pipeline:
    """``routes`` + ``Detection`` over keyed states that pass through JSON after every
    step, as the worker's changelogged table and its keyed topic do."""

    def __init__(self, detector_rules: DetectorRules | None = None) -> None:
        self.detection = Detection(detector_rules or DetectorRules())
        self.states: dict[str, State] = {}

    def observe(self, observation: Observation, now: float) -> list[Finding]:
        observation = through_keyed_topic(observation)
        findings: list[Finding] = []
        for key in routes(observation):
            state = self.states.get(key, {})
            findings += self.detection.observe(key, state, observation, now)
            self.states[key] = orjson.loads(orjson.dumps(state))
        return findings

    def tick(self, now: float) -> list[Finding]:
        findings: list[Finding] = []
        for key, state in list(self.states.items()):
            findings += self.detection.tick(key, state, now)
            if state:
                self.states[key] = orjson.loads(orjson.dumps(state))
            else:
                del self.states[key]
        return findings
