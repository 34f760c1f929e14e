"""What the event vocabulary means beyond the schema: the approval state each approval
event type stands for (the SDK's control state, the detectors and the ledger's
``approval_state`` column all read it from here)."""

from __future__ import annotations

from typing import Final, Literal

ApprovalDecision = Literal["granted", "denied", "expired"]
DECISIONS: Final[dict[str, ApprovalDecision]] = {
    "approval_granted": "granted", "approval_denied": "denied", "approval_expired": "expired",
}  # fmt: skip
"""The event types that decide an approval, and the decision each stands for."""
APPROVAL_STATES: Final[dict[str, str]] = {"approval_requested": "requested", **DECISIONS}
"""Every approval event type and the state it records."""
