"""The control channel as an approver sees it, for end-to-end tests of approvals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from handrail.control.follower import read_control
from handrail.control.state import ApprovalRequest, ControlState
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.settings import Settings


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
