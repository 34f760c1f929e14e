"""Decision rights applied inline for one agent: the governance file's verdict on each
action, with the agent's spend so far today (UTC) counted against its daily budget, and
any halt the control channel holds for the agent or the operation (a deny naming it);
and the control channel's decisions on its approvals and answers to its handoffs."""

from __future__ import annotations

import math
import threading
import time

from handrail.control.follower import ControlFollower
from handrail.control.state import ApprovalRequest, HandoffAnswer
from handrail.governance import Governance, Rights, Verdict
from handrail.governance.rights import UNTRUSTED
from handrail.producers.checks import Request

UNREAD = (
    "the control channel is unreachable: it was not read to its end within "
    "governance.control_wait_s, so a halt in force may be unknown; authorize() denies until "
    "it is read"
)


class Authorizer:
    def __init__(
        self, governance: Governance, agent: str, control: ControlFollower | None = None
    ) -> None:
        self.governance = governance
        self._rights = Rights(governance)
        self.control = control
        # Read without a lock: the state's halts are a dict of immutable notices, each
        # entry replaced in one step, so a read sees the notice before a change or after.
        self._halt = None if control is None else control.state.halt
        # The channel, once read to its end, stays so (``ControlFollower.caught_up``)
        self._caught_up = control is None
        self._agent = agent
        self.mode = governance.mode
        self._lock = threading.Lock()
        self._day_ends = _next_midnight()
        self._spent = 0.0

    def spent(self, usd: float) -> None:
        """Count a recorded spend against today's budget. Fails closed on a number it cannot
        trust (validation refuses them first): a refund (negative) never lowers the total;
        an amount that is not a finite number (or not a number) spends the whole budget."""
        if type(usd) is not float and type(usd) is not int:
            usd = math.inf
        elif not 0 <= usd < math.inf:
            usd = 0.0 if usd < 0 else math.inf
        with self._lock:
            self._roll()
            self._spent += usd

    def decide(self, request: Request, operation_id: str | None = None) -> Verdict:
        """The verdict on a (checked) request: (action, resource, cost in USD, attempt)."""
        if not self._caught_up:
            if self.control is not None and not self.control.caught_up():
                return Verdict("deny", "control", UNREAD)  # fails closed, never shadowed
            self._caught_up = True
        halt = None if self._halt is None else self._halt(self._agent, operation_id)
        if halt is not None:  # a halt is never shadowed: the processors asked for it
            return Verdict("deny", "halt", halt)
        if time.time() >= self._day_ends:
            with self._lock:
                self._roll()
        action, resource, cost_usd, attempt = request
        verdict = self._rights.decide(
            self._agent, action, resource, cost_usd, attempt, spent_today_usd=self._spent
        )
        if self.mode == "shadow" and verdict.rule != UNTRUSTED:  # a bad number never passes
            return verdict._replace(shadow=True)
        return verdict

    def wait_approval(self, approval_id: str, timeout: float) -> ApprovalRequest | None:
        """The decision on an approval, waiting up to ``timeout`` s; None if none came."""
        if self.control is None:
            return None
        return self.control.approval(approval_id, timeout)

    def wait_answer(self, handoff_id: str, timeout: float) -> HandoffAnswer | None:
        """The receiver's answer to a handoff, waiting up to ``timeout`` s."""
        if self.control is None:
            return None
        return self.control.answer(handoff_id, timeout)

    def escalation_route(self) -> str:
        """Where this agent's escalations go: its on-call route, else its owner."""
        declared = self.governance.agents.get(self._agent)
        if declared is None:
            return "unowned"
        return declared.oncall or declared.owner

    def close(self) -> None:
        if self.control is not None:
            self.control.close()

    def _roll(self) -> None:
        if time.time() >= self._day_ends:
            self._day_ends, self._spent = _next_midnight(), 0.0


def _next_midnight() -> float:
    """When today (UTC), the daily budget's day, ends: epoch seconds."""
    return (time.time() // 86_400 + 1) * 86_400
