"""Forged control entries on the events stream: the processors sign their own halts, and
the forged-control detector raises a critical "forged control entry" for every halt,
resume or approval decision the agents would ignore (judged by the agents' own
``ControlState``), in the Faust detection and the embedded pipeline's alike."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from handrail.config.thresholds import DetectorRules
from handrail.control.state import ControlState
from handrail.embedded.detect import ControlEntries
from handrail.processors.detection import Detection
from handrail.processors.findings import Finding
from handrail.processors.keyed import KeyedDetectors
from handrail.processors.observation import Observation
from handrail.processors.publisher import FindingEvents, HaltSigner
from handrail.schemas import decode, encode
from tests.support.samples import NOW, event_record
from tests.support.signers import (
    PROCESSOR,
    authority,
    decision_fields,
    halt_fields,
    key,
    key_file,
    nonce_of,
    resume_fields,
    signed,
)

STORM = Finding(
    "retry_storm",
    "retry-storm:payer:op-1",
    "4 retries",
    "payer",
    "team-pay",
    "wf-1",
    "critical",
    "op-1",
    ("e1",),
    halt="operation",
)


def record(kind: str, agent: str, workflow: str = "wf-1", **fields: Any) -> dict[str, Any]:
    r = event_record(kind, agent=agent, **fields)
    r["workflow_id"] = workflow
    return r


def ask(agent: str = "writer", approval_id: str = "ap-1") -> dict[str, Any]:
    return record(
        "approval_requested",
        agent,
        approval_id=approval_id,
        action="db.customers.write",
        resource="db.customers",
        reason="a human",
    )


def judged(*records: dict[str, Any]) -> list[Finding]:
    """Every record through the detection, as the worker routes them (through JSON)."""
    detection, states, findings = Detection(DetectorRules(), authority()), {}, []
    for r in records:
        obs = Observation.from_list(
            orjson.loads(orjson.dumps(Observation.from_record(decode(encode(r))[1]).to_list()))
        )
        key = f"workflow:{obs.workflow_id}"
        findings += detection.observe(key, states.setdefault(key, {}), obs, NOW.timestamp())
    return [f for f in findings if f.detector == "forged"]


def test_signed_entries_by_permitted_signers_raise_nothing() -> None:
    request = ask()
    halt = record("halt", PROCESSOR, **halt_fields("payer", "op-1"))
    lift = record("resume", "handrail-cli", **resume_fields("payer", "op-1", nonce_of(halt)))
    grant = record(
        "approval_granted", "handrail-cli", **decision_fields("approval_granted", request, "alice")
    )
    assert judged(request, halt, lift, grant) == []


def test_each_forgery_is_a_critical_alert_naming_it() -> None:
    request = ask()
    other = ask(approval_id="ap-2")
    by_mallory = decision_fields("approval_granted", request, "mallory")  # a key, no right
    replayed = {**decision_fields("approval_granted", request, "alice"), "approval_id": "ap-2"}
    changed = decision_fields("approval_denied", request, "alice")
    changed["signature"] = signed_by_other(changed)
    forged = {
        "unsigned halt": record(
            "halt",
            PROCESSOR,
            scope="agent",
            target_agent="payer",
            operation_id=None,
            reason="x",
            alert_dedup_key=None,
        ),
        "halt signed by a person": record(
            "halt", "alice", **{**halt_fields("payer", None), **signed_as("halt", "alice", "payer")}
        ),
        "resume by mallory": record(
            "resume", "mallory", **resume_fields("payer", None, "some-halt", signer="mallory")
        ),
        "future resume, unsigned": future(
            record(
                "resume",
                "handrail-cli",
                scope="agent",
                target_agent="payer",
                operation_id=None,
                reason="all good",
                by="alice",
            )
        ),
        "grant by mallory": record("approval_granted", "handrail-cli", **by_mallory),
        "replayed onto another request": record("approval_granted", "handrail-cli", **replayed),
        "changed signature": record("approval_denied", "handrail-cli", **changed),
        "self-approval": record(
            "approval_granted", "writer", approval_id="ap-1", approver="writer", reason="me"
        ),
    }
    findings = judged(request, other, *forged.values())
    ids = [str(r["event_id"]) for r in forged.values()]
    assert [f.evidence for f in findings] == [(i,) for i in ids]
    assert {f.severity for f in findings} == {"critical"}
    assert all(f.summary.startswith("forged control entry: ") for f in findings)
    assert all(f.halt is None for f in findings)
    assert findings[0].agent == "payer"
    assert findings[-1].agent == "writer"
    assert "mallory" in findings[2].summary


def signed_as(kind: str, signer: str, agent: str) -> dict[str, str]:
    from handrail.governance.signing import Decision

    return signed(Decision(kind, signer, agent, "", "storm", "storm"))  # type: ignore[arg-type]


def signed_by_other(fields: dict[str, Any]) -> str:
    from handrail.governance.signing import Decision, encode_signature, sign

    return encode_signature(sign(Decision.parse(fields["signed"]), key("bob")))


def future(r: dict[str, Any]) -> dict[str, Any]:
    r["time"] = NOW + timedelta(days=100 * 365)
    return r


def test_the_processors_sign_their_halts_and_agents_honour_them(tmp_path: Path) -> None:
    signer = HaltSigner.load(PROCESSOR, key_file(tmp_path, PROCESSOR))
    outgoing = FindingEvents("handrail-processors", {}, signer).encode([STORM])
    assert [(o.topic, o.key) for o in outgoing] == [
        ("alerts", b"retry-storm:payer:op-1"),
        ("halts", b"payer"),
    ]
    halt = decode(outgoing[1].value)[1]
    control = ControlState("payer", authority())
    control.apply(halt)
    assert control.forged_count == 0
    assert "operation op-1 of payer is halted: 4 retries" in (control.halt("payer", "op-1") or "")
    unsigned = decode(FindingEvents("handrail-processors", {}).encode([STORM])[1].value)[1]
    assert unsigned["payload"][1]["signature"] is None
    assert judged(halt) == []


def test_the_embedded_detectors_flag_forgeries_too() -> None:
    detectors = KeyedDetectors(DetectorRules(), {}, authority())
    lie = record(
        "resume",
        "handrail-cli",
        scope="agent",
        target_agent="payer",
        operation_id=None,
        reason="trust me",
        by="alice",
    )
    findings = detectors.observe_events([decode(encode(lie))[1]], NOW.timestamp())
    assert [(f.detector, f.severity, f.evidence) for f in findings] == [
        ("forged", "critical", (str(lie["event_id"]),))
    ]
    assert KeyedDetectors(DetectorRules(), {}).observe_events([decode(encode(lie))[1]], 0.0) == []


def test_an_unreadable_control_log_never_stops_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "control.log").mkdir()  # a directory where the log should be
    entries = ControlEntries(tmp_path / "control.log")
    assert entries.read() == []
    assert entries.read() == []  # tried again, logged once
    entries.close()


def test_a_forged_grant_covers_no_execution() -> None:
    """The rights detector never takes a forged grant for a granted approval: an action run
    under it pages as run under an approval nobody gave."""
    detection, state = Detection(DetectorRules(), authority()), {}
    request = ask()
    forged = record("approval_granted", "handrail-cli",
                    **decision_fields("approval_granted", request, "mallory"))  # fmt: skip
    ran = record("action_executed", "writer", action="db.customers.write", approval_id="ap-1")
    found = []
    for r in (request, forged, ran):
        obs = Observation.from_record(decode(encode(r))[1])
        found += detection.observe("workflow:wf-1", state, obs, NOW.timestamp())
    found += detection.tick("workflow:wf-1", state, NOW.timestamp() + 3600)
    assert [f.detector for f in found] == ["forged", "rights"]
    assert "under approval ap-1, which is unknown" in found[1].summary  # not granted


def test_a_forged_entry_carrying_a_real_event_id_is_judged_all_the_same() -> None:
    """Event ids are readable on the channel and predictable: an entry is judged whatever
    its id, a forged one never passes for the real entry that carries the same id, and
    the real one read again (redelivered, or from both the events stream and the channel)
    raises nothing."""
    request = ask()
    real = record("approval_granted", "handrail-cli",
                  **decision_fields("approval_granted", request, "alice"))  # fmt: skip
    forged = record("approval_granted", "handrail-cli",
                    **decision_fields("approval_granted", request, "mallory"))  # fmt: skip
    as_request = {**forged, "event_id": request["event_id"]}
    as_grant = {**forged, "event_id": real["event_id"]}
    findings = judged(request, real, as_request, real, as_grant, as_grant)
    assert [f.evidence for f in findings] == [(str(request["event_id"]),), (str(real["event_id"]),)]
    assert {f.severity for f in findings} == {"critical"}
    assert "'mallory' may not decide" in findings[0].summary


def test_an_alert_key_names_the_entry_not_only_its_event_id() -> None:
    """Two different forged entries under one event id raise two alerts; one entry read
    twice raises one."""
    request = ask()
    one = record("approval_granted", "handrail-cli",
                 **decision_fields("approval_granted", request, "mallory"))  # fmt: skip
    other = {**one, "payload": (one["payload"][0], {**one["payload"][1], "reason": "no"})}
    findings = judged(request, one, other, one)
    assert [f.evidence for f in findings] == [(str(one["event_id"]),)] * 2
    keys = [f.dedup_key for f in findings]
    assert len(set(keys)) == 2
    assert all(k.startswith(f"forged-control:{one['event_id']}:") for k in keys)


def test_a_forged_entry_never_takes_the_event_id_of_the_real_one_after_it() -> None:
    """A forged grant sent first under the id the real grant will carry is alerted, and
    the real grant still covers the execution (no rights finding)."""
    detection, state = Detection(DetectorRules(), authority()), {}
    request = ask()
    real = record("approval_granted", "handrail-cli",
                  **decision_fields("approval_granted", request, "alice"))  # fmt: skip
    forged = {**real, "payload": (real["payload"][0], {**real["payload"][1], "reason": "me"})}
    ran = record("action_executed", "writer", action="db.customers.write", approval_id="ap-1")
    found = []
    for r in (request, forged, real, ran):
        obs = Observation.from_record(decode(encode(r))[1])
        found += detection.observe("workflow:wf-1", state, obs, NOW.timestamp())
    found += detection.tick("workflow:wf-1", state, NOW.timestamp() + 3600)
    assert [(f.detector, f.evidence) for f in found] == [("forged", (str(real["event_id"]),))]


def test_the_first_request_stands_as_in_the_agents_state() -> None:
    """A copycat request (same approval id, another action) changes nothing: the real
    grant raises nothing, a grant by someone without the right on the real request still
    does, as the agent's own state judges them."""
    request = ask()
    copycat = ask()
    copycat["payload"][1]["action"] = "api.other"  # bob could approve this one
    real = record("approval_granted", "handrail-cli",
                  **decision_fields("approval_granted", request, "alice"))  # fmt: skip
    by_bob = record("approval_granted", "handrail-cli",
                    **decision_fields("approval_granted", copycat, "bob"))  # fmt: skip
    findings = judged(request, copycat, real, by_bob)
    assert [f.evidence for f in findings] == [(str(by_bob["event_id"]),)]
    control = ControlState("writer", authority())
    for r in (request, copycat, real, by_bob):
        control.apply(decode(encode(r))[1])
    assert [f.event_id for f in control.forged] == [str(by_bob["event_id"])]


def flooded(*decisions: dict[str, Any]) -> list[Finding]:
    """``decisions`` on the first of more requests than the detector keeps: unknown to it."""
    flood = [ask(approval_id=f"flood-{i}") for i in range(1_000)]
    return judged(ask(), *flood, *decisions)


def test_a_decision_on_a_request_no_longer_known_is_never_passed_in_silence() -> None:
    """Pushed out by 1,000 later requests, the request is unknown: what the decision
    carries is still judged (a self-approval, another workflow: forged), and a decision
    that verifies raises a warning saying the signer's right could not be checked."""
    request = ask()  # same approval id as flooded()'s first request
    by_mallory = record("approval_granted", "handrail-cli",
                        **decision_fields("approval_granted", request, "mallory"))  # fmt: skip
    mine = ask(agent="mallory")  # mallory asks, then grants her own request
    own = record("approval_granted", "handrail-cli",
                 **decision_fields("approval_granted", mine, "mallory"))  # fmt: skip
    elsewhere = record("approval_granted", "handrail-cli", workflow="wf-2",
                       **decision_fields("approval_granted", request, "alice"))  # fmt: skip
    findings = flooded(by_mallory, own, elsewhere)
    assert [(f.severity, f.evidence) for f in findings if f.workflow_id == "wf-1"] == [
        ("warning", (str(by_mallory["event_id"]),)),
        ("critical", (str(own["event_id"]),)),
    ]
    assert "whether 'mallory' may decide it could not be checked" in findings[0].summary
    assert findings[0].dedup_key.startswith("unjudged-control:")
    assert "may not decide its own request" in findings[1].summary
    assert [(f.severity, f.evidence) for f in findings if f.workflow_id == "wf-2"] == [
        ("critical", (str(elsewhere["event_id"]),))
    ]
