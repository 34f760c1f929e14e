"""handrail: the audit ledger and governance layer for LLM agents in production.

Subpackages: ``handrail.schemas`` (the Avro event contract and wire format),
``handrail.producers`` (the SDK agents call), ``handrail.processors`` (stream
detectors), ``handrail.ledger`` (the ClickHouse ledger).
"""

from handrail.errors import HandrailError

__all__ = ["HandrailError", "__version__"]
__version__ = "0.1.0"
