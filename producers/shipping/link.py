"""The pipe between a recorder and its shipper process: frames, and what each carries.

A frame is a 5-byte header (kind, body length) and the body. The recorder writes to the
shipper process's stdin: one ``CONFIG`` (the settings and the session, pickled), then
``EVENTS`` (a packed list of packed events) until ``CLOSE`` (the close
timeout) or the end of the pipe (the agent's process is gone). The shipper process writes
to its stdout: ``REPORT`` (its ``ShipperStats`` as a tuple) whenever they change, and one
``CLOSED`` (the stats and whether everything reached Kafka) before it exits.

Events travel packed (``producers/packing.py``), as the recorder buffered them.
"""

from __future__ import annotations

import struct
from dataclasses import astuple
from typing import IO, Any

from handrail.producers.packing import pack, unpack
from handrail.producers.shipping.stats import ShipperStats

CONFIG, EVENTS, CLOSE, REPORT, CLOSED = range(5)

_HEADER = struct.Struct("<BI")


def write_frame(out: IO[bytes], kind: int, body: bytes) -> None:
    out.write(_HEADER.pack(kind, len(body)) + body)
    out.flush()


def read_frame(src: IO[bytes]) -> tuple[int, bytes] | None:
    """The next frame; None at the end of the pipe (also in the middle of a frame)."""
    header = src.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    kind, size = _HEADER.unpack(header)
    body = src.read(size)
    return (kind, body) if len(body) == size else None


def pack_stats(stats: ShipperStats, *extra: Any) -> bytes:
    return pack((*astuple(stats), *extra))


def unpack_stats(body: bytes) -> tuple[ShipperStats, tuple[Any, ...]]:
    """The stats of a ``REPORT`` or ``CLOSED`` frame, and what follows them."""
    values = unpack(body)
    n = len(ShipperStats.__dataclass_fields__)
    return ShipperStats(*values[:n]), tuple(values[n:])
