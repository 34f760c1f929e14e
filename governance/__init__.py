"""Decision rights and handoff contracts: declared once in a governance file, evaluated
inline by the SDK; the signatures on people's decisions and the processors' halts.

May import: ``handrail.schemas``, ``handrail.settings`` and what is below, PyYAML and
jsonschema (loaded only when a file or a JSON Schema contract is read), PyNaCl (loaded on
first use), cryptography (only inside the functions that read and write private key files:
the ``cli`` extra).
``cli`` (``handrail resume``, ``approvals``, ``keys``) is a command and also uses the SDK
and the ledger (docs/architecture.md, exceptions).
"""

from handrail.governance.loader import GovernanceError, load, parse
from handrail.governance.model import Governance
from handrail.governance.rights import Rights, Verdict

__all__ = ["Governance", "GovernanceError", "Rights", "Verdict", "load", "parse"]
