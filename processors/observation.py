"""What detectors see of an event: a small, flat, JSON-friendly view (pure, no I/O).

The workers decode each Avro message once, turn it into an ``Observation`` and pass that
on (also between workers, as compact JSON). Times are epoch seconds (floats): ``time`` is
the producer's clock; absence is always measured on the processor's clock instead.
A payload number JSON cannot hold (NaN, ±inf, which the schema's doubles allow) is carried
by its name, ``"nan"``, ``"inf"`` or ``"-inf"``: as JSON would turn it into ``null``, the
detectors would otherwise see one value in one process and another after the keyed topic.
They take neither for a number (``detectors/numbers.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from handrail.schemas import EventRecord, event_type


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class Observation:
    event_id: str
    kind: str
    time: float
    workflow_id: str
    causation_id: str | None
    agent: str
    owner: str
    session_id: str
    sequence: int
    payload: dict[str, Any]

    @classmethod
    def from_record(cls, record: EventRecord) -> Observation:
        fields = record["payload"][1]
        return cls(
            event_id=str(record["event_id"]),
            kind=event_type(record),
            time=record["time"].timestamp(),
            workflow_id=record["workflow_id"],
            causation_id=record["causation_id"],
            agent=record["agent"]["name"],
            owner=record["agent"]["owner"],
            session_id=record["session_id"],
            sequence=record["sequence"],
            payload={k: _plain(v) for k, v in fields.items()},
        )

    def to_list(self) -> list[Any]:
        return [
            self.event_id, self.kind, self.time, self.workflow_id, self.causation_id,
            self.agent, self.owner, self.session_id, self.sequence, self.payload,
        ]  # fmt: skip

    @classmethod
    def from_list(cls, values: list[Any]) -> Observation:
        return cls(*values)


def encode_bundle(pairs: list[tuple[str, Observation]]) -> bytes:
    """Observations under their keys as one keyed message, ``{key: [obs, ...]}`` in JSON."""
    bundle: dict[str, list[list[Any]]] = {}
    for key, obs in pairs:
        bundle.setdefault(key, []).append(obs.to_list())
    return orjson.dumps(bundle)


def encode_bundles(pairs: list[tuple[str, Observation]], limit: int) -> list[bytes]:
    """``encode_bundle``, split in halves, in order, until each message is at most
    ``limit`` bytes (one observation larger than that goes alone)."""
    data = encode_bundle(pairs)
    if len(data) <= limit or len(pairs) == 1:
        return [data]
    half = len(pairs) // 2
    return encode_bundles(pairs[:half], limit) + encode_bundles(pairs[half:], limit)


def decode_bundle(key: bytes, data: bytes) -> dict[str, list[Observation]]:
    """A keyed message's observations by key: a bundle (``encode_bundles``), or a list
    under the message's ``key``, as workers sent them before bundles."""
    parsed = orjson.loads(data)
    if isinstance(parsed, list):
        return {key.decode(): [Observation.from_list(values) for values in parsed]}
    if not isinstance(parsed, dict):
        raise ValueError(f"a keyed message holds observations by key, not {type(parsed)}")
    return {k: [Observation.from_list(values) for values in v] for k, v in parsed.items()}
