"""The bytes the spool writes: an Avro container's header and whole blocks, a record's
body, a line of ``rejected.jsonl`` (pure, apart from ``pwrite_all``)."""

from __future__ import annotations

import json
import os
import reprlib
from io import BytesIO
from typing import Any

import fastavro

from handrail.producers.spool.segments import MAX_BLOCK
from handrail.schemas import EventRecord, encode, registry
from handrail.schemas.compiled_writer import avro_long
from handrail.schemas.wire import HEADER_SIZE

_REASON_MAX = 500


def header(sync: bytes) -> bytes:
    """A container header for the current schema, with no record, and ``sync``."""
    out = BytesIO()
    fastavro.writer(out, registry().current.parsed, [], codec="null", sync_marker=sync)
    return out.getvalue()


def block(bodies: list[bytes], sync: bytes) -> bytes:
    """One whole block of ``bodies`` (uncompressed) and its sync marker."""
    data = b"".join(bodies)
    return b"".join((avro_long(len(bodies)), avro_long(len(data)), data, sync))


def blocks(bodies: list[bytes], sync: bytes) -> bytes:
    """Whole blocks of ``bodies`` in order, none holding more than ``MAX_BLOCK`` bytes of
    records, so that a reader with the default bound reads every one (``body`` refuses a
    record that needs more); no body is one empty block."""
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for data in bodies:
        if chunk and size + len(data) > MAX_BLOCK:
            out.append(block(chunk, sync))
            chunk, size = [], 0
        chunk.append(data)
        size += len(data)
    if chunk or not out:
        out.append(block(chunk, sync))
    return b"".join(out)


def body(record: EventRecord) -> bytes:
    """The record's Avro body in the current schema; raises when it cannot be encoded, or
    when it is more than a block may hold (``TooBigError``)."""
    data = encode(record)[HEADER_SIZE:]
    if len(data) > MAX_BLOCK:
        raise TooBigError(f"{len(data)} bytes, more than a spool block holds ({MAX_BLOCK})")
    return data


class TooBigError(ValueError):
    """A record whose encoding is larger than a spool block may be."""


def unencodable(exc: BaseException) -> str:
    """The reason a record went to ``rejected.jsonl`` because ``body`` raised ``exc``."""
    return f"cannot be encoded: {type(exc).__name__}: {exc}"[:_REASON_MAX]


def rejected_line(record: Any, reason: str) -> str:
    """One line of ``rejected.jsonl``; a record JSON cannot carry (nested too deep, say)
    is kept as a bounded repr instead."""
    try:
        return json.dumps({"reason": reason, "event": record}, default=str)
    except (ValueError, TypeError, RecursionError):
        return json.dumps({"reason": reason, "event_repr": reprlib.repr(record)})


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``data`` written at ``offset``, whatever short writes it takes."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
