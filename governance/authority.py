"""Who may sign which decision (pure): the governance file's people, groups and processors
with their public keys, and the rights they hold. With no governance file nobody holds any
right, so no approval, resume or halt is accepted (fail closed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from handrail.governance.model import Governance, KeyHolder
from handrail.governance.rights import Rights
from handrail.governance.signing import parse_public_key

if TYPE_CHECKING:
    from nacl.signing import VerifyKey

PEOPLE_RECORDER = "handrail-cli"
"""The agent name people's decisions are recorded under (the CLI's, the console's)."""
RESERVED = frozenset({PEOPLE_RECORDER})
"""Names that sign nothing whatever the governance file says."""


def _keys(holders: Mapping[str, KeyHolder]) -> dict[str, tuple[VerifyKey, ...]]:
    return {
        name: tuple(parse_public_key(k) for k in holder.keys)
        for name, holder in holders.items()
        if name not in RESERVED
    }


class Authority:
    def __init__(self, governance: Governance | None = None) -> None:
        self.governance = governance
        self.people_keys = _keys(governance.people) if governance else {}
        """Who signs approvals and resumes: name -> public keys."""
        self.processor_keys = _keys(governance.processors) if governance else {}
        """Who signs halts: processor name -> public keys."""
        self._rights = Rights(governance) if governance else None

    def approvers(
        self, agent: str, action: str, resource: str | None, cost_usd: float | None
    ) -> frozenset[str]:
        """The people who may decide ``agent``'s request: the approvers of the rule that
        asks for the approval (judged again here, from the request alone), never the
        requesting agent itself."""
        if self._rights is None or self.governance is None:
            return frozenset()
        verdict = self._rights.decide(agent, action, resource, cost_usd)
        if verdict.approval is None:
            return frozenset()
        return self.governance.members(verdict.approval.approvers) - {agent}

    def resumers(self, agent: str) -> frozenset[str]:
        """The people who may lift ``agent``'s halts."""
        governance = self.governance
        if governance is None:
            return frozenset()
        declared = governance.agents.get(agent)
        extra = declared.resumers if declared is not None else ()
        return governance.members((*governance.halts.resumers, *extra)) - {agent}
