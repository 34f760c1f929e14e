"""Errors the SDK raises into agent code: only programming errors, never transport trouble."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from handrail.errors import HandrailError

if TYPE_CHECKING:  # the SDK's errors sit below governance: a verdict is only carried
    from handrail.governance.rights import Verdict

BlockedOutcome = Literal["denied", "escalated", "approval_denied", "approval_expired"]


class ProducerError(HandrailError):
    """Root of the errors raised by ``handrail.producers``."""


class InvalidEventError(ProducerError, ValueError):
    """An event argument is invalid; the message names the event type and the field."""


class RecorderClosedError(ProducerError):
    """An event was recorded after ``Recorder.close()``."""


class SpoolError(ProducerError):
    """The spool directory cannot be used (not writable, or locked by a live process)."""


class ConfigurationError(ProducerError, ValueError):
    """A recorder setting is invalid (e.g. a redaction path that names no field)."""


class ActionBlockedError(ProducerError):
    """A guarded action may not run: denied, escalated, or its approval was denied or
    expired. ``outcome`` says which; ``verdict`` is the decision-rights verdict."""

    def __init__(
        self,
        action: str,
        verdict: Verdict,
        outcome: BlockedOutcome,
        why: str,
        approval_id: str | None,
    ) -> None:
        super().__init__(f"{action} blocked ({outcome}, rule {verdict.rule or '-'}): {why}")
        self.action, self.verdict, self.outcome = action, verdict, outcome
        self.why, self.approval_id = why, approval_id


class HandoffRefusedError(ProducerError):
    """A handoff over an undeclared edge, or with a payload its contract refuses."""
