"""Reading a spool segment while it is written: whole Avro blocks only (pure, no I/O).

A segment is an Avro object container file: a header (magic, metadata with the writer
schema, a 16-byte sync marker), then blocks of ``count, size, records, sync``. The writer
appends and flushes whole blocks, but a reader can catch it mid-write, so ``frames`` takes
only the blocks whose bytes and sync marker are all there; the rest is read next time.
Bytes that can never become a block (a sync marker out of place) are reported as corrupt;
a header that is not one raises ``CorruptSegmentError``.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader

from handrail.embedded.errors import CorruptSegmentError
from handrail.schemas import EventRecord, registry
from handrail.schemas.registry import crc64_avro

MAGIC = b"Obj\x01"
SYNC_SIZE = 16


@dataclass(frozen=True, slots=True)
class Header:
    size: int
    """Bytes of the header: the first block starts here."""
    sync: bytes
    codec: str
    schema_version: int
    """The registry version of the writer schema (0 when the registry does not know it)."""
    writer: Any
    """The writer schema, parsed."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One whole block: ``[start, end)`` in the file, sync marker included; its records'
    bytes start at ``body``."""

    start: int
    end: int
    count: int
    body: int


def _long(data: bytes, pos: int) -> tuple[int, int] | None:
    """The zigzag varint at ``pos`` and the position after it; None if the bytes end first."""
    shift = value = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptSegmentError("a varint longer than 64 bits")
    return None


def _bytes(data: bytes, pos: int) -> tuple[bytes, int] | None:
    got = _long(data, pos)
    if got is None:
        return None
    length, pos = got
    if length < 0:
        raise CorruptSegmentError(f"a negative length: {length}")
    if pos + length > len(data):
        return None
    return data[pos : pos + length], pos + length


def parse_header(data: bytes) -> Header | None:
    """The header at the start of ``data``; None while it is incomplete."""
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise CorruptSegmentError(f"not an Avro container: starts with {data[:4]!r}")
    if len(data) < len(MAGIC):
        return None
    pos, meta = len(MAGIC), {}
    while True:
        got = _long(data, pos)
        if got is None:
            return None
        count, pos = got
        if count == 0:
            break
        if count < 0:  # a block of the map preceded by its size in bytes
            count = -count
            skipped = _long(data, pos)
            if skipped is None:
                return None
            pos = skipped[1]
        for _ in range(count):
            key = _bytes(data, pos)
            if key is None:
                return None
            value = _bytes(data, key[1])
            if value is None:
                return None
            meta[key[0].decode()] = value[0]
            pos = value[1]
    if pos + SYNC_SIZE > len(data):
        return None
    try:
        schema = json.loads(meta["avro.schema"])
        writer = parse_schema(schema)
    except (KeyError, ValueError) as exc:
        raise CorruptSegmentError(f"no readable writer schema in the header: {exc}") from exc
    known = registry().by_fingerprint(crc64_avro(schema))
    codec = meta.get("avro.codec", b"null").decode()
    version = known.version if known else 0
    return Header(pos + SYNC_SIZE, data[pos : pos + SYNC_SIZE], codec, version, writer)


def frames(data: bytes, start: int, sync: bytes, limit: int) -> tuple[list[Frame], bool]:
    """The whole blocks from ``start`` on, until ``limit`` records or an incomplete block;
    and whether the bytes after them can never be a block (corrupt)."""
    out: list[Frame] = []
    pos, records = start, 0
    while records < limit:
        try:
            count = _long(data, pos)
            size = None if count is None else _long(data, count[1])
        except CorruptSegmentError:
            return out, True
        if count is None or size is None:
            break
        end = size[1] + size[0] + SYNC_SIZE
        if count[0] < 0 or size[0] < 0:
            return out, True
        if end > len(data):
            break
        if data[end - SYNC_SIZE : end] != sync:
            return out, True
        out.append(Frame(pos, end, count[0], size[1]))
        records += count[0]
        pos = end
    return out, False


def decode(header: Header, data: bytes, block: Frame) -> list[EventRecord]:
    """The records of one block (``block`` is relative to ``data``), read with the current
    schema."""
    body = data[block.body : block.end - SYNC_SIZE]
    if header.codec == "deflate":
        body = zlib.decompress(body, -15)
    elif header.codec != "null":
        raise CorruptSegmentError(f"unsupported codec {header.codec!r}")
    current = registry().current
    reader = None if header.schema_version == current.version else current.parsed
    stream = io.BytesIO(body)
    records: list[EventRecord] = [
        cast(
            "EventRecord", schemaless_reader(stream, header.writer, reader, return_record_name=True)
        )
        for _ in range(block.count)
    ]
    if stream.tell() != len(body):
        raise CorruptSegmentError(f"a block of {block.count} records has bytes left over")
    return records
