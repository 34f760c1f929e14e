"""What a detector reports: a condition raised or cleared (pure data).

A finding's ``dedup_key`` names the condition, so raising it again while it is open is a
repeat, not a new alert. ``halt`` asks the closed loop to stop the subject agent (or one
operation of it) until a human resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["info", "warning", "critical"]
HaltScope = Literal["agent", "operation"]


@dataclass(frozen=True, slots=True)
class Finding:
    detector: str
    dedup_key: str
    summary: str
    agent: str
    owner: str
    workflow_id: str
    severity: Severity = "warning"
    operation: str | None = None
    evidence: tuple[str, ...] = field(default=())
    resolved: bool = False
    halt: HaltScope | None = None

    def resolve(self, summary: str) -> Finding:
        """The finding that clears this one."""
        return Finding(
            self.detector, self.dedup_key, summary, self.agent, self.owner,
            self.workflow_id, self.severity, self.operation, self.evidence, resolved=True,
        )  # fmt: skip
