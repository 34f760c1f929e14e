"""Errors of the embedded pipeline."""

from handrail.errors import HandrailError


class EmbeddedError(HandrailError):
    """Root of the errors raised by ``handrail.embedded``."""


class CorruptSegmentError(EmbeddedError):
    """A spool segment's bytes are not an Avro object container file (bad magic, a sync
    marker out of place): the reader quarantines the rest of the segment."""


class UnreadableSegmentError(EmbeddedError):
    """A file of a spool session directory the reader may not read as a segment: a name off
    the layout, a number out of range, a symlink or other file that is not a regular one, a
    file another user owns. It is quarantined (without its bytes when it was not read)."""


class PipelineBusyError(EmbeddedError):
    """Another ``handrail run`` already works on this ledger's checkpoint directory."""
