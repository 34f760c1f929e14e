"""Signed decisions end to end, in separate processes, on the embedded default and over
Kafka: an agent waits on ``authorize`` for an approval; decisions by someone without the
right, by an unknown key, under another name, and forged ones appended to the control
channel (the agent's own, unsigned; a changed signature; one moved from another approval)
are each refused and the agent keeps waiting; ``handrail approvals approve`` with a
permitted key lets it go on within a second, and the recorded grant verifies with alice's
public key alone. On the embedded default, ``handrail run`` then takes it all into the
ledger, raises a "forged control entry" alert for each forgery, and ``handrail approvals
prove`` shows from the ledger and the public keys alone who approved, and which decisions
proved nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from handrail.control.follower import read_control
from handrail.control.state import ApprovalRequest
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.governance.signing import Decision, generate, verify_signed, write_private_key
from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import open_reader
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.schemas import decode, event_type
from handrail.schemas.models import ApprovalGranted
from handrail.settings import AgentIdentity, Settings
from tests.support.approvals import kafka_env, pending
from tests.support.kafka_io import read_topic
from tests.support.signers import governance_yaml, key_file, signed

pytestmark = pytest.mark.timeout(180)

WRITE = ["db-writer", "db.customers.write", "db.customers"]


@pytest.fixture(params=["embedded", "kafka"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The embedded default (control log, spool, chdb ledger), or fresh Kafka topics."""
    file = tmp_path / "governance.yaml"
    file.write_text(governance_yaml(extra_agents=("db-writer",)))
    env = {"HANDRAIL_GOVERNANCE__FILE": str(file),
           "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool"),
           "HANDRAIL_SPOOL__CONTROL_LOG": str(tmp_path / "control.log"),
           "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
           "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp_path / "checkpoints")}  # fmt: skip
    if request.param == "kafka":
        env |= kafka_env(request.getfixturevalue("kafka_bootstrap"))
    return env


def recorded(env: dict[str, str], tmp_path: Path, expect: int) -> list[dict[str, Any]]:
    """Every event recorded: from the events topic, or (embedded) the spool."""
    if "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS" in env:
        messages = read_topic(env["HANDRAIL_KAFKA__BOOTSTRAP_SERVERS"],
                              env["HANDRAIL_KAFKA__EVENTS_TOPIC"], expect)  # fmt: skip
        return [decode(m.value)[1] for m in messages]
    return list(read_all(tmp_path / "spool"))


def settings_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def cli(env: dict[str, str], tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cli_env = {**os.environ, **env}
    cli_env.pop("HANDRAIL_SIGNING_KEY", None)
    command = [sys.executable, "-m", "handrail", *args]
    return subprocess.run(command, env=cli_env, capture_output=True, text=True, check=False)


def forge(settings: Settings, request: ApprovalRequest) -> None:
    """Grants appended to the control log (and the spool) by a process that holds no
    permitted key: the agent's own, one with a changed signature, one moved from another
    approval."""
    forger_settings = settings.model_copy(deep=True)
    forger_settings.governance.file = None
    mine = Decision("approval_granted", "alice", request.agent, request.approval_id,
                    request.event_id, "forged", request.workflow_id)  # fmt: skip
    fields = signed(mine)
    changed = fields["signature"][:5] + ("B" if fields["signature"][5] == "A" else "A") + (
        fields["signature"][6:])  # fmt: skip
    other = Decision("approval_granted", "alice", request.agent, "ap-other", request.event_id,
                     "forged", request.workflow_id)  # fmt: skip
    forgeries = [
        (
            request.agent,
            ApprovalGranted(
                approval_id=request.approval_id, approver=request.agent, reason="I approve myself"
            ),
        ),
        (
            "handrail-cli",
            ApprovalGranted(
                approval_id=request.approval_id,
                approver="alice",
                reason="forged",
                signed=fields["signed"],
                signature=changed,
            ),
        ),
        (
            "handrail-cli",
            ApprovalGranted(
                approval_id=request.approval_id, approver="alice", reason="forged", **signed(other)
            ),
        ),
    ]
    for name, payload in forgeries:
        with Recorder(forger_settings, AgentIdentity(name=name, owner="alice")) as rec:
            rec.record(payload, workflow_id=request.workflow_id)


def test_only_a_permitted_signed_approval_lets_the_agent_go_on(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_env = {**os.environ, **env}
    agent = subprocess.Popen([sys.executable, "-m", "tests.support.guarded_agent", *WRITE],
                             env=agent_env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    settings = settings_for(env, monkeypatch)
    request = pending(settings)
    approve = ("approvals", "approve", request.approval_id, "--reason", "checked")

    refused = {
        "no right": cli(env, tmp_path, *approve, "--key", str(key_file(tmp_path, "mallory"))),
        "other's right": cli(env, tmp_path, *approve, "--key", str(key_file(tmp_path, "bob"))),
        "another name": cli(
            env, tmp_path, *approve, "--by", "alice", "--key", str(key_file(tmp_path, "mallory"))
        ),
    }
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, generate())
    refused["unknown key"] = cli(env, tmp_path, *approve, "--key", str(stranger))
    for what, run in refused.items():
        assert run.returncode == 2, what
    assert "mallory may not decide db-writer's db.customers.write" in refused["no right"].stderr
    assert "--by alice does not match the key, which is mallory's" in refused["another name"].stderr
    assert "belongs to nobody" in refused["unknown key"].stderr

    forge(settings, request)
    authority = Authority(load(Path(env["HANDRAIL_GOVERNANCE__FILE"])))
    state = read_control(settings, authority)
    assert state.approvals[request.approval_id].state == "pending"
    assert [f.reason for f in state.forged] == [
        "unsigned",
        "the signature does not verify with 'alice''s keys",
        "signed for another subject",
    ]
    assert agent.poll() is None  # still waiting

    done = cli(env, tmp_path, *approve, "--key", str(key_file(tmp_path, "alice")))
    assert done.returncode == 0, done.stderr
    out, _ = agent.communicate(timeout=60)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    decided = read_control(settings, authority).approvals[request.approval_id]
    assert (decided.state, decided.decided_by) == ("granted", "alice")
    assert decided.decided_at is not None
    assert result["ran"] is True
    assert result["time"] - decided.decided_at.timestamp() < 1.0

    # What was recorded proves who approved, with the public keys alone.
    # request, policy verdict, three forgeries, the grant, action executed
    grants = [r for r in recorded(env, tmp_path, 7) if event_type(r) == "approval_granted"]
    proofs = [verify_signed(r["payload"][1]["signed"] or "", r["payload"][1]["signature"] or "",
                            authority.people_keys) for r in grants]  # fmt: skip
    (proof,) = [p for p in proofs if isinstance(p, Decision) and p.subject == request.approval_id]
    assert (proof.signer, proof.subject, proof.refers_to) == (
        "alice", request.approval_id, request.event_id)  # fmt: skip

    if "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS" not in env:  # over Kafka: the events topic above
        prove_from_the_ledger(env, tmp_path, request)


def prove_from_the_ledger(env: dict[str, str], tmp_path: Path, request: ApprovalRequest) -> None:
    """``handrail run`` ingests it all and alerts each forgery; ``handrail approvals prove``
    names alice and refuses the rest."""
    run = subprocess.Popen([sys.executable, "-m", "handrail", "run"], cwd=tmp_path,
                           env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        alerts = wait_for_alerts(tmp_path / "ledger", run, 3)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    assert {a["approval_id"] for a in alerts} <= {request.approval_id, ""}
    proved = cli(env, tmp_path, "approvals", "prove", request.approval_id)
    assert proved.returncode == 1, proved.stderr  # the forgeries prove nothing
    lines = proved.stdout.splitlines()
    assert lines[0].startswith(f"{request.approval_id}  db-writer: db.customers.write  "
                               "granted by alice (event ")  # fmt: skip
    assert sorted(line.split(": ", 1)[1] for line in lines[1:]) == [
        "signed for another subject",
        "the signature does not verify with 'alice''s keys",
        "unsigned",
    ]


def wait_for_alerts(
    ledger: Path, run: subprocess.Popen[bytes], count: int, timeout: float = 120
) -> list[dict[str, Any]]:
    """The "forged control entry" alerts in the ledger, once there are ``count``."""
    sql = ("SELECT event_json, approval_id FROM events WHERE type = 'alert_raised' "
           "AND event_json LIKE '%forged control entry%'")  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, "handrail run exited"
        if socket_path(ledger).exists():
            reader = open_reader(f"chdb://{ledger}", wait_s=5)
            try:
                rows = reader.query(sql, {})
            finally:
                reader.close()
            if len(rows) >= count:
                return rows
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} forged-entry alerts in the ledger")
