"""Handoff contracts: the sender's payload is checked against the edge's contract before
anything is sent; the receiver runs the declared checks and takes or refuses the work;
the answer reaches the sender over the control channel; shadow mode records and goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handrail.producers import HandoffRefusedError, Recorder
from handrail.producers.errors import ConfigurationError
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings
from tests.support.contract_models import Summary

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "governance.example.yaml"
EXTRA = """
  - from: analyst
    to: db-writer
    contract: {model: "tests.support.contract_models:Summary"}
    checks: [refund_within_policy]
    on_reject: escalate
    owner: team-platform
    deadline_s: 60
"""
GOOD = {"customer_id": "C42", "summary": "billing error on invoice 7"}


def recorder(tmp_path: Path, agent: str, mode: str = "enforce") -> Recorder:
    file = tmp_path / "governance.yaml"
    file.write_text(EXAMPLE.read_text().replace("mode: enforce", f"mode: {mode}") + EXTRA)
    settings = Settings(
        spool=SpoolSettings(dir=tmp_path / f"spool-{agent}", control_log=tmp_path / "control.log"),
        governance=GovernanceSettings(file=file),
    )
    return Recorder(settings, AgentIdentity(name=agent, owner="team"))


def recorded(tmp_path: Path, agent: str) -> list[tuple[str, dict[str, Any]]]:
    return [(event_type(r), r["payload"][1]) for r in read_all(tmp_path / f"spool-{agent}")]


def test_a_conforming_payload_is_offered_with_its_contract_and_deadline(tmp_path: Path) -> None:
    with recorder(tmp_path, "summarizer") as rec:
        ticket = rec.handoff("analyst", "analyse", GOOD)
    ((kind, offer),) = recorded(tmp_path, "summarizer")
    assert kind == "handoff_offered"
    assert offer["contract"] == "json_schema"
    assert ticket.deadline is not None
    assert offer["deadline"] == ticket.deadline


@pytest.mark.parametrize(
    ("to", "payload", "problem"),
    [
        ("analyst", {"summary": "no id"}, "'customer_id' is a required property"),
        ("analyst", {"customer_id": 42, "summary": "x"}, "customer_id: 42 is not of type 'string'"),
        ("db-writer", GOOD, "no handoff summarizer -> db-writer is declared"),
    ],
)
def test_a_bad_handoff_is_refused_before_anything_is_sent(
    tmp_path: Path, to: str, payload: dict[str, Any], problem: str
) -> None:
    with recorder(tmp_path, "summarizer") as rec, pytest.raises(HandoffRefusedError) as refused:
        rec.handoff(to, "analyse", payload)
    assert problem in str(refused.value)
    ((kind, verdict),) = recorded(tmp_path, "summarizer")  # a verdict, and no offer
    assert kind == "policy_verdict"
    assert (verdict["action"], verdict["effect"]) == (f"handoff:{to}", "deny")
    assert verdict["rule"] == f"handoff:summarizer->{to}"
    assert problem in verdict["reason"]


def test_shadow_mode_records_the_refusal_and_sends_anyway(tmp_path: Path) -> None:
    with recorder(tmp_path, "summarizer", "shadow") as rec:
        rec.handoff("analyst", "analyse", {"summary": "no id"})
    kinds = [(kind, p.get("mode")) for kind, p in recorded(tmp_path, "summarizer")]
    assert kinds == [("policy_verdict", "shadow"), ("handoff_offered", None)]


def test_the_receiver_runs_the_declared_checks_and_the_sender_sees_the_answer(
    tmp_path: Path,
) -> None:
    checks = {"has_customer_id": lambda p: p["customer_id"],
              "summary_not_empty": lambda p: p["summary"].strip()}  # fmt: skip
    with recorder(tmp_path, "summarizer") as sender, recorder(tmp_path, "analyst") as receiver:
        good = sender.handoff("analyst", "analyse", GOOD)
        bad = sender.handoff("analyst", "analyse", {"customer_id": "C1", "summary": "  "})
        took = receiver.accept(good, GOOD, checks=checks)
        refused = receiver.accept(bad, {"customer_id": "C1", "summary": "  "}, checks=checks)
        tampered = receiver.accept(good, {**GOOD, "summary": "other"}, checks=checks)
        answers = [sender.handoff_outcome(t, timeout=5) for t in (good, bad)]
    assert took
    assert not refused
    assert not tampered
    assert [c["name"] for c in took.checks] == [
        "payload_sha256", "contract", "has_customer_id", "summary_not_empty",
    ]  # fmt: skip
    assert refused.failed == ["summary_not_empty"]
    assert refused.on_reject == "return_to_sender"
    assert tampered.failed == ["payload_sha256"]
    good_answer, bad_answer = answers
    assert good_answer is not None
    assert good_answer.accepted
    assert bad_answer is not None
    assert not bad_answer.accepted
    assert bad_answer.failed_checks == ("summary_not_empty",)
    assert bad_answer.reason == "failed checks: summary_not_empty"
    kinds = [kind for kind, _ in recorded(tmp_path, "analyst")]
    assert kinds == ["handoff_accepted", "handoff_rejected", "handoff_rejected"]


def test_a_model_contract_gives_the_receiver_the_model_and_escalates_a_rejection(
    tmp_path: Path,
) -> None:
    policy = {"refund_within_policy": lambda s: s.refund_usd <= 100}
    with recorder(tmp_path, "analyst") as sender, recorder(tmp_path, "db-writer") as receiver:
        with pytest.raises(HandoffRefusedError, match="customer_id: String should match"):
            sender.handoff("db-writer", "write", {"customer_id": "42", "summary": "x"})
        small = {**GOOD, "refund_usd": 20}
        ok = receiver.accept(sender.handoff("db-writer", "write", small), small, checks=policy)
        big = {**GOOD, "refund_usd": 5000}
        no = receiver.accept(sender.handoff("db-writer", "write", big), big, checks=policy)
        with pytest.raises(ConfigurationError, match="refund_within_policy"):
            receiver.accept(sender.handoff("db-writer", "write", small), small)
    assert isinstance(ok.payload, Summary)
    assert ok.payload.refund_usd == 20
    assert no.failed == ["refund_within_policy"]
    assert no.on_reject == "escalate"
    kinds = [(kind, p.get("to")) for kind, p in recorded(tmp_path, "db-writer")]
    assert kinds == [("handoff_accepted", None), ("handoff_rejected", None),
                     ("escalation", "team-platform")]  # fmt: skip
