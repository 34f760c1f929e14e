"""Approvals end to end, in separate processes: an agent's guarded write to the customer
database waits for a human; ``handrail approvals approve | deny`` (another process, with
the approver's key) decides, and the agent proceeds (or not) within a second of the
decision; nobody deciding expires the request into a deny or an escalation. Over a real
Kafka broker and over the embedded control log (no Kafka).

No decision races a timeout the test guessed: the test waits until the request is on the
channel before it decides, and the agent waits for a decision longer than the test may
run (``DECIDED_BY_THE_TEST``); only the expiry tests use a short timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handrail.producers.spool import read_all
from handrail.schemas import decode, event_type
from handrail.settings import Settings
from tests.support.approvals import WRITE, channel, channel_env, outcome, pending, start_agent
from tests.support.kafka_io import read_topic
from tests.support.signers import key_file

TEST_TIMEOUT_S = 180
pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)

DECIDED_BY_THE_TEST = 2 * TEST_TIMEOUT_S
"""The agent's approval timeout when a person decides: the test ends (or fails) first."""
EXPIRES = 8
"""The approval timeout of the expiry tests: nobody decides, so nothing races it."""


@pytest.fixture(params=["kafka", "embedded"])
def bootstrap(request: pytest.FixtureRequest) -> str | None:
    """The broker (kafka), or None (the embedded control log)."""
    return request.getfixturevalue("kafka_bootstrap") if request.param == "kafka" else None


def settings_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def cli(env: dict[str, str], tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cli_env = {**os.environ, **env, "HANDRAIL_SPOOL__DIR": str(tmp / "spool-cli")}
    cli_env.pop("HANDRAIL_SIGNING_KEY", None)
    command = [sys.executable, "-m", "handrail", "approvals", *args]
    return subprocess.run(command, env=cli_env, capture_output=True, text=True, check=False)


def recorded(env: dict[str, str], tmp: Path, expect: int) -> list[str]:
    """The workflow's event types by time (the agent's and the CLI's), from the events topic
    or (embedded) their spools."""
    if "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS" in env:
        messages = read_topic(env["HANDRAIL_KAFKA__BOOTSTRAP_SERVERS"],
                              env["HANDRAIL_KAFKA__EVENTS_TOPIC"], expect)  # fmt: skip
        records = [decode(m.value)[1] for m in messages]
    else:
        spools = [tmp / "spool-agent", tmp / "spool-cli"]
        records = [r for spool in spools if spool.exists() for r in read_all(spool)]
    mine = sorted((r for r in records if r["workflow_id"] == f"wf-{WRITE[0]}"),
                  key=lambda r: r["time"])  # fmt: skip
    return [event_type(r) for r in mine]


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_a_human_decides_and_the_waiting_agent_follows_within_a_second(
    bootstrap: str | None, decision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = channel_env(tmp_path, bootstrap)
    settings = settings_for(env, monkeypatch)
    agent = start_agent(env, tmp_path)
    request = pending(settings)  # on the channel: the agent waits for a human from now on
    assert (request.agent, request.action, request.resource) == tuple(WRITE)
    assert request.expires_at is not None
    assert request.expires_at.timestamp() - time.time() > TEST_TIMEOUT_S  # nothing races it

    listing = cli(env, tmp_path, "list")
    assert listing.returncode == 0, listing.stderr
    assert request.approval_id in listing.stdout
    assert "db.customers.write" in listing.stdout

    alice = str(key_file(tmp_path, "alice"))
    done = cli(env, tmp_path, decision, request.approval_id, "--key", alice,
               "--reason", "checked the summary")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = outcome(agent)
    decided = channel(settings).approvals[request.approval_id]
    assert decided.state == ("granted" if decision == "approve" else "denied")
    assert decided.decided_by == "alice"
    assert decided.decision_reason == "checked the summary"
    assert decided.decided_at is not None
    assert result["time"] - decided.decided_at.timestamp() < 1.0  # of its publication
    assert result["approval_id"] == request.approval_id
    if decision == "approve":
        assert result["ran"] is True
        assert recorded(env, tmp_path, 4) == [
            "policy_verdict", "approval_requested", "approval_granted", "action_executed",
        ]  # fmt: skip
    else:
        assert (result["ran"], result["outcome"]) == (False, "approval_denied")
        assert "denied by alice: checked the summary" in result["why"]
        assert recorded(env, tmp_path, 3) == [
            "policy_verdict", "approval_requested", "approval_denied",
        ]  # fmt: skip

    again = cli(env, tmp_path, "approve", request.approval_id, "--key", alice, "--reason", "x")
    assert again.returncode == 2
    assert "already" in again.stderr  # the first decision stands


def test_nobody_decides_and_the_request_expires_into_a_deny(
    bootstrap: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = channel_env(tmp_path, bootstrap, timeout_s=EXPIRES)
    settings = settings_for(env, monkeypatch)
    agent = start_agent(env, tmp_path)
    request = pending(settings)
    result = outcome(agent)
    assert (result["ran"], result["outcome"]) == (False, "approval_expired")
    assert result["time"] - request.requested_at.timestamp() == pytest.approx(EXPIRES, abs=1.0)
    assert channel(settings).approvals[request.approval_id].state == "expired"
    kinds = recorded(env, tmp_path, 3)
    assert kinds == ["policy_verdict", "approval_requested", "approval_expired"]
    alice = str(key_file(tmp_path, "alice"))
    late = cli(env, tmp_path, "approve", request.approval_id, "--key", alice, "--reason", "late")
    assert late.returncode == 2
    assert "already expired" in late.stderr


def test_an_expiry_can_escalate_instead(tmp_path: Path) -> None:
    env = channel_env(tmp_path, None, timeout_s=EXPIRES, on_timeout="escalate")  # either channel
    result = outcome(start_agent(env, tmp_path))
    assert (result["ran"], result["outcome"]) == (False, "escalated")
    records = list(read_all(tmp_path / "spool-agent"))
    escalation = next(r["payload"][1] for r in records if event_type(r) == "escalation")
    assert escalation["to"] == "pagerduty:data"  # db-writer's on-call route
    assert escalation["action"] == "db.customers.write"
    assert "expired after 8 s" in escalation["reason"]
