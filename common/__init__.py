"""handrail: the audit ledger and governance layer for LLM agents in production.

Subpackages: ``handrail.schemas`` (the Avro event contract and wire format),
``handrail.producers`` (the SDK agents call), ``handrail.governance`` (decision rights),
``handrail.processors`` (stream detectors), ``handrail.ledger`` (the ClickHouse ledger),
``handrail.embedded`` (``handrail run``), ``handrail.demo``; modules: settings, the root
exception, the command. The layers and what each may import: docs/architecture.md.
This module imports only the root exception.
"""

from handrail.errors import HandrailError

__all__ = ["HandrailError", "__version__"]
__version__ = "0.1.0"
