"""Where control events go on Kafka (pure).

Halts and resumes go to the halts topic, ``<processors.control_topic>.halts``, keyed by
the agent they target: one partition then holds every halt and resume of an agent, so its
offsets order them (a resume lifts only the halts before it), and the topic is kept
forever (``retention.ms=-1``), so a halt stays in force until a person lifts it, however
long that takes. It is not compacted: the broker cannot check a signature, so a forged
entry under a halt's key would make compaction drop the halt it replaced.

Approval requests and decisions and handoff answers go to the control topic, keyed by
workflow: a request and its decisions share a partition (every reader sees the same
first decision), and they expire with the topic's retention (they matter for a day).
"""

from __future__ import annotations

from typing import Any

from handrail.schemas import AVRO_NAMES

HALT_NAMES = frozenset(AVRO_NAMES[kind] for kind in ("halt", "resume"))
"""The Avro names of the events that go to the halts topic."""

HALTS_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
"""The halts topic's configuration: nothing on it ever expires."""


def halts_topic(control_topic: str) -> str:
    """The halts topic that goes with a control topic."""
    return f"{control_topic}.halts"


def destination(record: dict[str, Any], control_topic: str) -> tuple[str, bytes]:
    """The topic and key of a control event's copy on the control channel."""
    name, payload = record["payload"]
    if name in HALT_NAMES:
        return halts_topic(control_topic), str(payload["target_agent"]).encode()
    return control_topic, str(record["workflow_id"]).encode()
