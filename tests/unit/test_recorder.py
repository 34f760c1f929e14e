"""The recorder on the embedded default (spool only): envelope, scopes, handoffs, errors."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from handrail.producers import (
    ConfigurationError,
    HandoffTicket,
    InvalidEventError,
    Recorder,
    RecorderClosedError,
)
from handrail.producers.checks import payload_fields
from handrail.producers.spool import read_all
from handrail.schemas import EventRecord, event_type
from handrail.schemas.models import ApprovalRequested
from handrail.schemas.timestamps import to_micros
from handrail.settings import AgentIdentity, ProducerSettings, Settings, SpoolSettings


def settings(tmp_path: Path, **producer: object) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp_path / "spool", control_log=tmp_path / "control.log"),
        producer=ProducerSettings(**producer),  # type: ignore[arg-type]
    )


@pytest.fixture
def rec(tmp_path: Path) -> Iterator[Recorder]:
    r = Recorder(settings(tmp_path), AgentIdentity(name="summarizer", version="2", owner="team-a"))
    yield r
    r.close()


def spooled(tmp_path: Path, recorder: Recorder) -> list[EventRecord]:
    assert recorder.flush(5)
    return list(read_all(tmp_path / "spool"))


def test_envelope_is_stamped(tmp_path: Path, rec: Recorder) -> None:
    with rec.workflow("wf-42"):
        ref = rec.decision("db.write", "checks passed", checks=[{"name": "id", "passed": True}])
    [event] = spooled(tmp_path, rec)
    assert str(event["event_id"]) == ref.event_id
    assert uuid.UUID(ref.event_id).version == 8
    assert event["workflow_id"] == "wf-42"
    assert event["agent"] == {"name": "summarizer", "version": "2", "owner": "team-a"}
    assert event["session_id"] == rec.session_id
    assert event["sequence"] == 1
    assert event_type(event) == "decision_made"
    assert event["payload"][1]["checks"] == [{"name": "id", "passed": True, "detail": None}]


def test_causation_chains_and_nests(tmp_path: Path, rec: Recorder) -> None:
    with rec.workflow() as wf:
        decision = rec.decision("api.call", "needed data")
        with rec.within(decision):
            failed = rec.action_failed("api.call", "Timeout", "504", retryable=True)
            retry = rec.retry("api.call", "op-1", 1, "504")
        spend = rec.spend(0.02, "openai", "gpt", input_tokens=10)
    outside = rec.heartbeat()
    by_id = {str(e["event_id"]): e for e in spooled(tmp_path, rec)}
    assert by_id[decision.event_id]["causation_id"] is None
    assert by_id[failed.event_id]["causation_id"] == decision.event_id
    assert by_id[retry.event_id]["causation_id"] == failed.event_id
    assert by_id[spend.event_id]["causation_id"] == decision.event_id  # back at the outer level
    assert {by_id[r.event_id]["workflow_id"] for r in (decision, failed, retry, spend)} == {
        wf.workflow_id
    }
    assert by_id[outside.event_id]["workflow_id"] == f"session-{rec.session_id}"
    assert by_id[outside.event_id]["causation_id"] is None


def test_handoff_continues_the_workflow_in_another_recorder(tmp_path: Path, rec: Recorder) -> None:
    with rec.workflow("wf-h"):
        rec.decision("handoff", "summary ready")
        ticket = rec.handoff_offered("analyst", "analyse", payload={"customer": 7})
    wire = ticket.model_dump_json()  # what crosses the process boundary

    receiver = Recorder(settings(tmp_path), AgentIdentity(name="analyst"))
    got = HandoffTicket.model_validate_json(wire)
    with receiver.receive(got):
        accepted = receiver.handoff_accepted(got, checks=[{"name": "schema", "passed": True}])
        action = receiver.action_executed("analyse")
    rejected_outside = receiver.handoff_rejected(got, "second thoughts")
    receiver.close()
    events = {str(e["event_id"]): e for e in spooled(tmp_path, rec)}
    offer = events[ticket.offer_event_id]
    assert offer["payload"][1]["payload_sha256"] == ticket.payload_sha256
    assert events[accepted.event_id]["workflow_id"] == "wf-h"
    assert events[accepted.event_id]["causation_id"] == ticket.offer_event_id
    assert events[action.event_id]["causation_id"] == accepted.event_id
    assert events[rejected_outside.event_id]["causation_id"] == ticket.offer_event_id
    assert events[rejected_outside.event_id]["agent"]["name"] == "analyst"


def test_invalid_argument_names_the_field(rec: Recorder) -> None:
    with pytest.raises(InvalidEventError, match=r"decision_made.*checks\.0\.passed"):
        rec.decision("db.write", "x", checks=[{"name": "id", "passed": "perhaps"}])
    with pytest.raises(InvalidEventError, match=r"spend.*usd"):
        rec.spend("a lot", "openai", "gpt")  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError, match=r"escalation.*severity"):
        rec.escalation("x", "y", severity="apocalyptic")  # type: ignore[arg-type]
    assert rec.stats().accepted == 0


def test_timestamp_fields_are_checked_and_kept_as_micros(tmp_path: Path, rec: Recorder) -> None:
    """A deadline is an aware datetime; the buffered event holds its microseconds (what
    the wire carries and what a packed event can hold), and it reads back the same."""
    deadline = datetime(2026, 11, 25, 12, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    assert payload_fields("approval_requested", approval_id="a", action="x", reason="r",
                          expires_at=deadline)[1]["expires_at"] == to_micros(deadline)  # fmt: skip
    with pytest.raises(InvalidEventError, match=r"handoff_offered.*deadline"):
        rec.handoff_offered("analyst", "analyse", deadline=datetime(2026, 11, 25, 12, 0))
    rec.handoff_offered("analyst", "analyse", deadline=deadline)
    rec.record(ApprovalRequested(approval_id="a", action="x", reason="r", expires_at=deadline))
    offer, request = (e["payload"][1] for e in spooled(tmp_path, rec))
    assert offer["deadline"] == deadline
    assert request["expires_at"] == deadline


def test_sequences_are_gap_free_across_threads(tmp_path: Path, rec: Recorder) -> None:
    def work() -> None:
        with rec.workflow():
            for _ in range(500):
                rec.heartbeat()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = spooled(tmp_path, rec)
    assert [e["sequence"] for e in events] == list(range(1, 2001))
    assert len({e["event_id"] for e in events}) == 2000


def test_redaction_scrubs_paths_before_encoding(tmp_path: Path) -> None:
    s = settings(tmp_path, redact=["payload.rationale", "payload.inputs.value", "labels.email"])
    with Recorder(s, AgentIdentity(name="a")) as r:
        r.decision("x", "card 4111-1111", inputs=[{"name": "q", "value": "secret", "ref": "r1"}])
        r.record(r_payload_heartbeat(), labels={"email": "a@b.c", "env": "prod"})
    decision, beat = read_all(tmp_path / "spool")
    assert decision["payload"][1]["rationale"] == "[REDACTED]"
    assert decision["payload"][1]["inputs"] == [{"name": "q", "value": "[REDACTED]", "ref": "r1"}]
    assert beat["labels"] == {"email": "[REDACTED]", "env": "prod"}


def r_payload_heartbeat():  # type: ignore[no-untyped-def]
    from handrail.schemas.models import Heartbeat

    return Heartbeat(status="ok")


def test_redaction_path_must_name_a_string_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"payload\.usd"):
        Recorder(settings(tmp_path, redact=["payload.usd"]), AgentIdentity(name="a"))
    with pytest.raises(ConfigurationError, match=r"payload\.nope"):
        Recorder(settings(tmp_path, redact=["payload.nope"]), AgentIdentity(name="a"))


def test_closed_recorder_refuses(rec: Recorder) -> None:
    rec.close()
    with pytest.raises(RecorderClosedError):
        rec.heartbeat()


def test_no_identity_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidEventError, match="HANDRAIL_AGENT__NAME"):
        Recorder(settings(tmp_path))


def test_full_buffer_never_blocks_past_the_bound_or_loses(tmp_path: Path) -> None:
    s = settings(tmp_path, buffer_max_events=10, max_block_ms=1)
    with Recorder(s, AgentIdentity(name="a")) as r:
        for _ in range(3000):
            r.heartbeat()
    assert len(list(read_all(tmp_path / "spool"))) == 3000
