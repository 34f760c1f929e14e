"""Errors of the embedded pipeline."""

from handrail.errors import HandrailError


class EmbeddedError(HandrailError):
    """Root of the errors raised by ``handrail.embedded``."""


class PipelineBusyError(EmbeddedError):
    """Another ``handrail run`` already works on this ledger's checkpoint directory."""
