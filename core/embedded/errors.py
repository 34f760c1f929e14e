"""Errors of the embedded pipeline."""

from handrail.errors import HandrailError


class EmbeddedError(HandrailError):
    """Root of the errors raised by ``handrail.embedded``."""


class CorruptSegmentError(EmbeddedError):
    """A spool segment's bytes are not an Avro object container file (bad magic, a sync
    marker out of place): the reader quarantines the rest of the segment."""


class PipelineBusyError(EmbeddedError):
    """Another ``handrail run`` already works on this ledger's checkpoint directory."""
