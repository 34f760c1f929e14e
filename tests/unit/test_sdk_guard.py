"""``Recorder.guard``: a tool call under decision rights, as a context manager and as a
decorator; what it records for each verdict; shadow mode never waits or blocks."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from handrail.control.follower import read_control
from handrail.governance.signing import Decision, public_key_line
from handrail.producers import ActionBlockedError, Recorder
from handrail.producers.spool import read_all
from handrail.schemas import event_type
from handrail.schemas.models import ApprovalGranted
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings
from tests.support.signers import key, signed

RULES = """
mode: {mode}
agents:
  writer: {{owner: team-data, oncall: pagerduty:data}}
people:
  alice: {{keys: ['{alice}']}}
rights:
  - {{action: db.read, effect: allow}}
  - {{action: db.drop, effect: deny, reason: never}}
  - {{action: db.migrate, effect: escalate, reason: a human runs migrations}}
  - action: db.customers.write
    effect: needs_approval
    reason: customer data
    approval: {{timeout_s: 0.5, on_timeout: deny, approvers: [alice]}}
"""


def settings(tmp_path: Path, mode: str = "enforce") -> Settings:
    file = tmp_path / "governance.yaml"
    file.write_text(RULES.format(mode=mode, alice=public_key_line(key("alice").verify_key)))
    spool = SpoolSettings(dir=tmp_path / "spool", control_log=tmp_path / "control.log")
    return Settings(spool=spool, governance=GovernanceSettings(file=file))


def recorder(tmp_path: Path, mode: str = "enforce") -> Recorder:
    return Recorder(settings(tmp_path, mode), AgentIdentity(name="writer", owner="team-data"))


def recorded(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(event_type(r), r["payload"][1]) for r in read_all(tmp_path / "spool")]


def kinds(tmp_path: Path) -> list[str]:
    return [kind for kind, _ in recorded(tmp_path)]


def test_an_allowed_call_runs_and_its_outcome_is_recorded(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec, rec.guard("db.read") as guard:
        assert guard.verdict is not None
        assert guard.verdict.effect == "allow"
    assert kinds(tmp_path) == ["policy_verdict", "action_executed"]
    with recorder(tmp_path) as rec, pytest.raises(KeyError), rec.guard("db.read"):
        raise KeyError("row 7")
    (kind, failed) = recorded(tmp_path)[-1]
    assert kind == "action_failed"
    assert (failed["error_type"], failed["retryable"]) == ("KeyError", False)


@pytest.mark.parametrize(
    ("action", "outcome", "then"),
    [
        ("db.drop", "denied", []),
        ("db.migrate", "escalated", ["escalation"]),
        ("db.unknown", "denied", []),
    ],
)
def test_a_blocked_call_never_runs(
    tmp_path: Path, action: str, outcome: str, then: list[str]
) -> None:
    ran = False
    with recorder(tmp_path) as rec, pytest.raises(ActionBlockedError) as blocked, rec.guard(action):
        ran = True
    assert not ran
    assert blocked.value.outcome == outcome
    assert kinds(tmp_path) == ["policy_verdict", *then]
    if then:
        assert recorded(tmp_path)[-1][1]["to"] == "pagerduty:data"


def test_an_approval_nobody_gives_expires_into_a_deny(tmp_path: Path) -> None:
    started = time.monotonic()
    rec = recorder(tmp_path)
    with rec, pytest.raises(ActionBlockedError) as blocked, rec.guard("db.customers.write"):
        pass
    assert 0.5 <= time.monotonic() - started < 2.0
    assert blocked.value.outcome == "approval_expired"
    assert kinds(tmp_path) == ["policy_verdict", "approval_requested", "approval_expired"]


def test_a_decorated_call_waits_for_its_approval_each_time(tmp_path: Path) -> None:
    granted: list[str] = []
    agent, person = settings(tmp_path), settings(tmp_path)  # the file is written once, here
    person.governance.file = None  # a person at the CLI is not under rules

    def approver() -> None:  # a person with the CLI: grants what is pending, twice
        deadline = time.monotonic() + 10
        while len(granted) < 2 and time.monotonic() < deadline:
            for pending in read_control(person).pending():
                if pending.approval_id not in granted:
                    decision = Decision("approval_granted", "alice", pending.agent,
                                        pending.approval_id, pending.event_id, "ok",
                                        pending.workflow_id)  # fmt: skip
                    with Recorder(person, AgentIdentity(name="cli")) as cli:
                        cli.record(ApprovalGranted(approval_id=pending.approval_id,
                                                   approver="alice", reason="ok",
                                                   **signed(decision)))  # fmt: skip
                    granted.append(pending.approval_id)
            time.sleep(0.02)

    thread = threading.Thread(target=approver)
    thread.start()
    with Recorder(agent, AgentIdentity(name="writer", owner="team-data")) as rec:

        @rec.guard("db.customers.write")
        def write(row: int) -> int:
            return row * 2

        assert [write(1), write(2)] == [2, 4]
    thread.join()
    executed = [p for kind, p in recorded(tmp_path) if kind == "action_executed"]
    assert sorted(p["approval_id"] for p in executed) == sorted(granted)
    assert len(set(granted)) == 2  # one approval per call


def test_shadow_mode_records_the_verdict_and_never_blocks(tmp_path: Path) -> None:
    started = time.monotonic()
    with recorder(tmp_path, "shadow") as rec:
        for action in ("db.drop", "db.customers.write"):
            with rec.guard(action) as guard:
                assert guard.verdict is not None
                assert guard.verdict.shadow
    assert time.monotonic() - started < 0.5  # no approval wait
    assert kinds(tmp_path) == ["policy_verdict", "action_executed"] * 2
    assert [p["effect"] for k, p in recorded(tmp_path) if k == "policy_verdict"] == [
        "deny", "needs_approval",
    ]  # fmt: skip
