"""The control channel as an approver sees it, for end-to-end tests of approvals."""

from __future__ import annotations

import time

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
