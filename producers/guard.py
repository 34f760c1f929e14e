"""The guard: one tool call under decision rights, as a context manager or a decorator.

It authorizes the action (recording the verdict); on ``needs_approval`` it records an
approval request and waits for a human's decision on the control channel up to the
rule's timeout (then records the expiry and denies or escalates, as the rule says); on
``deny`` or ``escalate`` it raises ``ActionBlockedError`` (an escalation is recorded first).
When the call runs, its outcome is recorded: ``action_executed`` (with the approval it
ran under) or ``action_failed`` (and the exception goes on). In shadow mode every
verdict is recorded and nothing waits or blocks.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ContextDecorator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from handrail.governance import Verdict
from handrail.producers.errors import ActionBlockedError, BlockedOutcome

if TYPE_CHECKING:
    from handrail.producers.recorder import Recorder


class Guard(ContextDecorator):
    """``with recorder.guard("db.customers.write", resource="db.customers"): write()``."""

    def __init__(
        self,
        recorder: Recorder,
        action: str,
        *,
        resource: str | None = None,
        cost_usd: float | None = None,
        attempt: int | None = None,
        operation_id: str | None = None,
    ) -> None:
        self._recorder, self.action, self.resource = recorder, action, resource
        self._cost, self._attempt, self._operation = cost_usd, attempt, operation_id
        self.verdict: Verdict | None = None
        self.approval_id: str | None = None
        """The approval the call runs under, when one was needed and granted."""
        self._started = 0.0

    def _recreate_cm(self) -> Guard:  # a decorated function gets a fresh guard per call
        return Guard(
            self._recorder, self.action, resource=self.resource, cost_usd=self._cost,
            attempt=self._attempt, operation_id=self._operation,
        )  # fmt: skip

    def __enter__(self) -> Guard:
        rec = self._recorder
        self.verdict = verdict = rec.authorize(
            self.action, resource=self.resource, cost_usd=self._cost, attempt=self._attempt,
            operation_id=self._operation,
        )  # fmt: skip
        if not verdict.allowed:
            if verdict.effect == "needs_approval":
                self.approval_id = self._await_approval(verdict)
            else:
                self._block(verdict, "denied" if verdict.effect == "deny" else "escalated",
                            verdict.reason)  # fmt: skip
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = (time.perf_counter() - self._started) * 1000
        if error is None:
            self._recorder.action_executed(
                self.action, resource=self.resource, duration_ms=elapsed,
                approval_id=self.approval_id,
            )  # fmt: skip
        else:
            self._recorder.action_failed(
                self.action, type(error).__name__, str(error) or type(error).__name__,
                retryable=not isinstance(error, ValueError | TypeError | KeyError),
                resource=self.resource, duration_ms=elapsed,
            )  # fmt: skip

    def _await_approval(self, verdict: Verdict) -> str:
        rec, approval = self._recorder, verdict.approval
        timeout = approval.timeout_s if approval else 300.0
        approval_id = uuid.uuid4().hex[:12]  # short enough to type at the CLI
        rec.approval_requested(
            approval_id, self.action, verdict.reason, resource=self.resource,
            cost_usd=self._cost, expires_at=datetime.now(UTC) + timedelta(seconds=timeout),
        )  # fmt: skip
        decision = rec.authorizer.wait_approval(approval_id, timeout)
        if decision is not None and decision.state == "granted":
            return approval_id
        if decision is not None:
            why = f"approval {approval_id} {decision.state} by {decision.decided_by}"
            self._block(verdict, "approval_denied", f"{why}: {decision.decision_reason}",
                        approval_id)  # fmt: skip
        rec.approval_expired(approval_id)
        then = approval.on_timeout if approval else "deny"
        why = f"approval {approval_id} expired after {timeout:g} s"
        self._block(verdict, "escalated" if then == "escalate" else "approval_expired", why,
                    approval_id)  # fmt: skip
        raise AssertionError("unreachable")  # _block raises

    def _block(
        self,
        verdict: Verdict,
        outcome: BlockedOutcome,
        why: str,
        approval_id: str | None = None,
    ) -> None:
        if outcome == "escalated":
            rec = self._recorder
            rec.escalation(why, rec.authorizer.escalation_route(), action=self.action)
        raise ActionBlockedError(self.action, verdict, outcome, why, approval_id)
