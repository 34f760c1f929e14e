"""Reading one spool segment, whole Avro blocks only, a bounded chunk at a time (I/O).

The one reader of segments: the embedded pipeline's ``Source`` reads a segment as it
grows, and the recorder's replay (``Spool.head``) and ``read_all`` read a closed one to
its end, all through a ``SegmentCursor``. A block that frames but does not decode comes
out as an ``Item`` with its bytes (at most ``RAW_MAX``) and the reason; bytes that form no
whole block are reported by ``rest`` once the segment can no longer grow.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from handrail.producers.spool.access import open_segment, why_not
from handrail.producers.spool.errors import CorruptSegmentError, UnreadableSegmentError
from handrail.producers.spool.positions import REST, STRAY, position
from handrail.producers.spool.segments import (
    MAX_BLOCK,
    MAX_HEADER,
    Frame,
    Header,
    decode,
    frames,
    parse_header,
)
from handrail.schemas import EventRecord

log = logging.getLogger(__name__)

RAW_MAX = 64 << 10
"""The most bytes of one quarantined item (a block, a tail, a stray) kept in the ledger."""


@dataclass(slots=True)
class Item:
    """What reading produced at one offset: a record, or bytes that decode to none."""

    offset: int
    record: EventRecord | None
    schema_version: int = 0
    raw: bytes = b""
    error: str = ""
    message: bytes = b""
    """The record as the message the producer sends, where its block held those bytes."""


def bounded(raw: bytes, total: int) -> tuple[bytes, str]:
    """At most ``RAW_MAX`` of ``raw`` and a note saying so when it was cut."""
    if total <= RAW_MAX:
        return raw, ""
    return raw[:RAW_MAX], f" (the first {RAW_MAX} of {total} bytes kept)"


@dataclass(slots=True)
class SegmentCursor:
    """Where reading segment number ``segment`` (the file ``path``) stands."""

    segment: int
    path: Path
    skip_below: int
    """The first offset to hand out (earlier ones are done)."""
    max_block: int = MAX_BLOCK
    byte: int = 0
    index: int = 0
    header: Header | None = None
    last: int | None = None
    """The offset of the last item of this segment handed out."""
    error: str = ""
    """Why the rest of the segment can never be read (quarantined at the finish)."""

    @property
    def chunk(self) -> int:
        """Bytes read at once: a header, or a whole block of ``max_block`` and its framing."""
        return max(MAX_HEADER, self.max_block + 64)

    def read(self, out: list[Item], limit: int) -> bool:
        """Read whole blocks into ``out``; True when it stopped at ``limit`` items."""
        taken = 0
        while taken < limit and not self.error:
            data = self._chunk()
            if data is None:
                return False
            if self.header is None:
                try:
                    self.header = parse_header(data)
                except CorruptSegmentError as exc:
                    self.error = str(exc)
                    return False
                if self.header is None:
                    return False
                data, self.byte = data[self.header.size :], self.header.size
            blocks, self.error = frames(data, 0, self.header.sync, limit - taken, self.max_block)
            for block in blocks:
                self._take(data, block, out)
            taken += sum(b.count for b in blocks)
            if not blocks:
                return False
        return taken >= limit

    def _chunk(self) -> bytes | None:
        """The next bytes from ``byte`` on; None when there are none (or cannot be)."""
        try:
            if self.header is not None and os.lstat(self.path).st_size <= self.byte:
                return None  # nothing new (the usual case of an idle agent)
            with open_segment(self.path) as handle:
                if os.fstat(handle.fileno()).st_size <= self.byte:
                    return None
                handle.seek(self.byte)
                return handle.read(self.chunk)
        except FileNotFoundError:
            log.warning("spool segment %s vanished before it was read to its end", self.path)
            return None
        except (OSError, UnreadableSegmentError) as exc:
            self.error = why_not(exc)  # quarantined once the segment is finished
            return None

    def _take(self, data: bytes, block: Frame, out: list[Item]) -> None:
        first = self.index
        if first + block.count > STRAY:
            self.error = f"more than {STRAY} records in one segment"
            return
        self.index += block.count
        self.byte += block.end - block.start
        offsets = [position(self.segment, first + i) for i in range(block.count)]
        wanted = [o for o in offsets if o >= self.skip_below]
        if not wanted:
            return
        assert self.header is not None
        try:
            messages: list[bytes] = []
            records = decode(self.header, data, block, self.max_block, messages)
        except Exception as exc:  # a whole block that does not decode: keep its bytes
            raw, note = bounded(data[block.start : block.end], block.end - block.start)
            error = f"{type(exc).__name__}: {exc}{note}"
            out.append(Item(offsets[-1], None, raw=raw, error=error))
            self.last = offsets[-1]
            return
        skip = len(offsets) - len(wanted)
        version = self.header.schema_version
        bodies = messages[skip:] if messages else [b""] * len(wanted)
        for o, r, m in zip(wanted, records[skip:], bodies, strict=True):
            out.append(Item(o, r, version, message=m))
        self.last = wanted[-1]

    def rest(self) -> Item | None:
        """The quarantine item of what is left of a finished segment (None: nothing)."""
        tail = position(self.segment, REST)
        try:
            with open_segment(self.path) as handle:
                total = os.fstat(handle.fileno()).st_size - self.byte
                handle.seek(self.byte)
                raw, note = bounded(handle.read(RAW_MAX), total)
        except FileNotFoundError:
            return None
        except (OSError, UnreadableSegmentError) as exc:
            return Item(tail, None, error=f"UnreadableSegmentError: {why_not(exc)}")
        if total <= 0:
            return None
        what = self.error or ("a torn or corrupt tail" if self.header else "a torn header")
        return Item(tail, None, raw=raw, error=f"CorruptSegmentError: {what}, {total} bytes{note}")
