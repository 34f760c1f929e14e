"""The control channel as an approver sees it, for end-to-end tests of approvals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from handrail.control.follower import read_control
from handrail.control.state import ApprovalRequest, ControlState
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.settings import Settings
from tests.support.signers import governance_yaml


def channel(settings: Settings) -> ControlState:
    """The control channel as an agent under the governance file judges it."""
    assert settings.governance.file is not None
    return read_control(settings, Authority(load(settings.governance.file)))


def pending(settings: Settings, timeout: float = 30.0) -> ApprovalRequest:
    """The one approval request waiting on the channel, once the agent has made it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = channel(settings).pending()
        if waiting:
            (request,) = waiting
            return request
        time.sleep(0.1)
    raise AssertionError("the agent never asked for an approval")


def approve(settings: Settings, approval_id: str, key: Path) -> None:
    """``handrail approvals approve`` in another process, signed with ``key``."""
    assert settings.governance.file is not None
    env = {**os.environ, "HANDRAIL_GOVERNANCE__FILE": str(settings.governance.file),
           "HANDRAIL_SPOOL__CONTROL_LOG": str(settings.spool.control_log),
           "HANDRAIL_SPOOL__DIR": str(settings.spool.dir.parent / "spool-cli")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "handrail", "approvals", "approve", approval_id,
         "--key", str(key), "--reason", "checked"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


WRITE = ["db-writer", "db.customers.write", "db.customers"]
"""The guarded call of ``start_agent``'s agent: db-writer's write to the customer database."""


def channel_env(
    tmp: Path, bootstrap: str | None, timeout_s: float = 360,
    on_timeout: str = "deny",
) -> dict[str, str]:  # fmt: skip
    """HANDRAIL_* for one test: rules where alice (group leads) approves db-writer's writes
    to the customer database within ``timeout_s``, and either a fresh events and control
    topic or the embedded control log."""
    governance = tmp / "governance.yaml"
    rules = governance_yaml(extra_agents=("db-writer",))
    for old, new in (
        ('approval: {timeout_s: 30, approvers: ["group:leads"]}',
         f'approval: {{timeout_s: {timeout_s}, on_timeout: {on_timeout}, '
         'approvers: ["group:leads"]}'),
        ("  db-writer: {owner: team}", "  db-writer: {owner: team-data, oncall: pagerduty:data}"),
    ):  # fmt: skip
        assert old in rules
        rules = rules.replace(old, new)
    governance.write_text(rules)
    env = {"HANDRAIL_GOVERNANCE__FILE": str(governance),
           "HANDRAIL_SPOOL__CONTROL_LOG": str(tmp / "control.log")}  # fmt: skip
    if bootstrap is not None:
        env |= kafka_env(bootstrap)
    return env


def kafka_env(bootstrap: str) -> dict[str, str]:
    """HANDRAIL_* for fresh events and control topics of one test on ``bootstrap``."""
    events, control = (f"t-{name}-{uuid.uuid4().hex[:8]}" for name in ("events", "control"))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(events, 3, 1), NewTopic(control, 3, 1)])
    admin.close()
    return {"HANDRAIL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "HANDRAIL_KAFKA__EVENTS_TOPIC": events,
            "HANDRAIL_PROCESSORS__CONTROL_TOPIC": control}  # fmt: skip


def start_agent(env: dict[str, str], tmp: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.support.guarded_agent", *WRITE]
    agent_env = {**os.environ, **env, "HANDRAIL_SPOOL__DIR": str(tmp / "spool-agent")}
    return subprocess.Popen(command, env=agent_env, stdout=subprocess.PIPE, text=True)


def outcome(agent: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = agent.communicate(timeout=60)
    assert agent.returncode == 0
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
