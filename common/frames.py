"""Framed append-only files, the one codec (pure, no I/O): the control log's entries
(``handrail.control.log``) and the pipeline's journal (``handrail.embedded.journal``).

A frame is a 4-byte magic (one per kind of file, so one is never read as the other), a
4-byte big-endian length (at most the codec's ``max_body``), the CRC32C of the length's 4
bytes and the body, then the body. ``FrameCodec.scan`` cuts bytes into whole frames,
bytes that are no frame (``Damage``: a wrong magic, length or CRC, up to where a frame may
start again) and a frame cut short by the end of the bytes (``Torn``). What to do with
them is the caller's policy: the control log skips damage and reads on; the journal
trusts nothing after its first bad frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crc32c import crc32c

_LENGTH = struct.Struct(">I")
_HEAD = struct.Struct(">4sII")  # magic, length, CRC32C of the length's 4 bytes and the body
LARGEST = 0xFFFF_FFFF
"""The longest body the 4-byte length can say."""


@dataclass(slots=True)  # not frozen: made per frame, and frozen ones cost more
class Frame:
    """A whole frame at ``data[start:end]``, and its body."""

    body: bytes
    start: int
    end: int


@dataclass(slots=True)
class Damage:
    """Bytes that are no frame, ``data[start:end]``: ``end`` is where a frame may start
    again (the next magic, a start of one cut short by the end, or the end)."""

    start: int
    end: int


@dataclass(slots=True)
class Torn:
    """A frame from ``start`` that the bytes end before it does: one still being written,
    or one that a writer that died left."""

    start: int


Piece = Frame | Damage | Torn


@dataclass(frozen=True, slots=True)
class FrameCodec:
    """The frames of one kind of file."""

    magic: bytes
    max_body: int = LARGEST
    """A longer length is no frame (a hostile length cannot hide the frames after it)."""

    def __post_init__(self) -> None:
        if len(self.magic) != 4 or not 0 <= self.max_body <= LARGEST:
            raise ValueError("a frame's magic is 4 bytes, its length at most 4 bytes")

    def encode(self, body: bytes) -> bytes:
        """One frame; ``ValueError`` for a body longer than ``max_body``."""
        if len(body) > self.max_body:
            raise ValueError(f"a frame of {len(body)} bytes: at most {self.max_body}")
        length = _LENGTH.pack(len(body))
        return _HEAD.pack(self.magic, len(body), crc32c(length + body)) + body

    def encode_all(self, bodies: Iterable[bytes]) -> bytes:
        return b"".join(self.encode(body) for body in bodies)

    def opens(self, start: bytes) -> bool:
        """``start`` (a file's first bytes) may open a file of these frames: the magic,
        a start of it, or nothing."""
        return start[: len(self.magic)] == self.magic[: len(start)]

    def scan(self, data: bytes, pos: int = 0, *, settled: bool) -> Iterator[Piece]:
        """``data`` from ``pos`` on, piece by piece. A frame cut short by the end is
        ``Torn`` and ends the scan, unless ``settled`` (no writer can still complete it):
        then it is ``Damage`` and the scan goes on after it."""
        while pos < len(data):
            piece = self.at(data, pos)
            if isinstance(piece, Torn) and settled:
                piece = Damage(pos, self._next_start(data, pos))
            yield piece
            if isinstance(piece, Torn):
                return
            pos = piece.end

    def at(self, data: bytes, pos: int) -> Piece:
        """The piece at ``pos`` (< ``len(data)``); ``Torn`` for a frame cut short."""
        head = data[pos : pos + _HEAD.size]
        if not self.opens(head):
            return Damage(pos, self._next_start(data, pos))
        if len(head) < _HEAD.size:
            return Torn(pos)
        _, length, crc = _HEAD.unpack(head)
        if length > self.max_body:
            return Damage(pos, self._next_start(data, pos))
        end = pos + _HEAD.size + length
        if end > len(data):
            return Torn(pos)
        body = data[pos + _HEAD.size : end]
        if crc32c(head[4:8] + body) != crc:
            return Damage(pos, self._next_start(data, pos))
        return Frame(body, pos, end)

    def _next_start(self, data: bytes, pos: int) -> int:
        """Where a frame may start after ``pos``: the next magic, or a start of one at the
        end."""
        found = data.find(self.magic, pos + 1)
        if found >= 0:
            return found
        for start in range(max(pos + 1, len(data) - len(self.magic) + 1), len(data)):
            if self.magic.startswith(data[start:]):
                return start
        return len(data)
