"""A recorder session: event ids, and how a buffered event becomes its full record."""

from __future__ import annotations

import pickle
import uuid

import pytest

from handrail.producers.packing import pack
from handrail.producers.session import MAX_SEQUENCE, BufferedEvent, Session

AGENT = {"name": "summarizer", "version": "2", "owner": "team-a", "model": None}


def buffered(session: Session, seq: int, labels: dict[str, str] | None = None) -> BufferedEvent:
    inputs = [{"name": "q", "value": "s"}]
    fields = {"action": "db.write", "rationale": "card 4111", "inputs": inputs}
    return (session.event_id(seq), seq, 1_764_000_000_000_000, "wf-1", None, labels,
            "handrail.DecisionMade", fields)  # fmt: skip


@pytest.mark.parametrize("seq", [1, 2, 0xFFFF_FFFF, MAX_SEQUENCE])
def test_event_ids_are_uuid8_with_the_sequence_in_the_low_bits(seq: int) -> None:
    session = Session(AGENT, {})
    event_id = uuid.UUID(session.event_id(seq))
    assert str(event_id) == session.event_id(seq)
    assert event_id.version == 8
    assert event_id.variant == uuid.RFC_4122
    assert event_id.int & ((1 << 62) - 1) == seq
    assert len(str(event_id)) == 36
    assert event_id.int >> 64 == uuid.UUID(session.event_id(1)).int >> 64


def test_sessions_have_their_own_ids() -> None:
    a, b = Session(AGENT, {}), Session(AGENT, {})
    assert a.id != b.id
    assert a.event_id(1) != b.event_id(1)


def test_record_completes_the_envelope() -> None:
    session = Session(AGENT, {"env": "prod"})
    record = session.record(buffered(session, 7))
    assert record["event_id"] == session.event_id(7)
    assert record["sequence"] == 7
    assert record["session_id"] == session.id
    assert record["agent"] == AGENT
    assert record["labels"] == {"env": "prod"}
    assert record["payload"][0] == "handrail.DecisionMade"
    assert session.record(buffered(session, 8, {"env": "dev"}))["labels"] == {"env": "dev"}


def test_redaction_applies_to_the_record_and_spares_the_session() -> None:
    session = Session(AGENT, {"email": "a@b.c"}, ["payload.rationale", "payload.inputs.value",
                                                  "labels.email"])  # fmt: skip
    record = session.unpack(pack(buffered(session, 1)))
    assert record["payload"][1]["rationale"] == "[REDACTED]"
    assert record["payload"][1]["inputs"] == [{"name": "q", "value": "[REDACTED]"}]
    assert record["labels"] == {"email": "[REDACTED]"}
    assert session.labels == {"email": "a@b.c"}


def test_a_pickled_session_builds_the_same_records() -> None:
    session = Session(AGENT, {"email": "a@b.c"}, ["labels.email"])
    copy = pickle.loads(pickle.dumps(session))
    event = buffered(session, 3)
    assert copy.id == session.id
    assert copy.event_id(3) == session.event_id(3)
    assert copy.unpack(pack(event)) == session.unpack(pack(event))
    assert copy.unpack(pack(event))["labels"] == {"email": "[REDACTED]"}
