"""The spool's errors: a write that failed, and files a reader may not take as segments."""

from __future__ import annotations

from handrail.producers.errors import SpoolError


class SpoolWriteError(SpoolError):
    """Writing to the spool failed (disk full, read-only, removed): the first ``done`` of
    the records given were dealt with (written or set aside) before it; none after."""

    def __init__(self, cause: OSError, done: int) -> None:
        super().__init__(f"cannot write the spool: {cause}")
        self.done = done


class CorruptSegmentError(SpoolError):
    """A spool segment's bytes are not an Avro object container file (bad magic, a sync
    marker out of place): the reader quarantines the rest of the segment."""


class UnreadableSegmentError(SpoolError):
    """A file of a spool session directory the reader may not read as a segment: a name off
    the layout, a number out of range, a symlink or other file that is not a regular one, a
    file another user owns. It is quarantined (without its bytes when it was not read)."""
