"""Decision rights and handoff contracts: declared once in a governance file, evaluated
inline by the SDK."""

from handrail.governance.loader import GovernanceError, load, parse
from handrail.governance.model import Governance
from handrail.governance.rights import Rights, Verdict

__all__ = ["Governance", "GovernanceError", "Rights", "Verdict", "load", "parse"]
