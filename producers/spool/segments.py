"""Reading a spool segment while it is written: whole Avro blocks only (pure, no I/O).

A segment is an Avro object container file: a header (magic, metadata with the writer
schema, a 16-byte sync marker), then blocks of ``count, size, records, sync``. The writer
appends and flushes whole blocks, but a reader can catch it mid-write, so ``frames`` takes
only the blocks whose bytes and sync marker are all there; the rest is read next time.
Bytes that can never become a block (a sync marker out of place, a size past
``max_block``) are reported as corrupt; a header that is not one raises
``CorruptSegmentError``.

Every segment is hostile until read: the header must end within ``MAX_HEADER`` bytes and
name a writer schema the registry knows (by its fingerprint; records are then read with the
registry's copy, so nothing the header adds, such as an extra field, is silently dropped);
a block may take at most ``max_block`` bytes, compressed and decompressed alike
(decompression stops there).
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from typing import Any, cast

from fastavro import schemaless_reader

from handrail.producers.spool.errors import CorruptSegmentError
from handrail.schemas import EventRecord, registry
from handrail.schemas.registry import MAGIC as MESSAGE_MAGIC
from handrail.schemas.registry import crc64_avro

MAGIC = b"Obj\x01"
SYNC_SIZE = 16
MAX_HEADER = 1 << 20
"""A header longer than this is refused (ours take about 22 KB: the schema)."""
CODECS = ("null", "deflate")
MAX_BLOCK = 16 << 20
"""The default bound on a block's bytes, compressed and decompressed
(``spool.read_max_block_bytes``); the writer never writes a bigger one."""


@dataclass(frozen=True, slots=True)
class Header:
    size: int
    """Bytes of the header: the first block starts here."""
    sync: bytes
    codec: str
    schema_version: int
    """The registry version of the writer schema."""
    writer: Any
    """The writer schema, parsed: the registry's copy of it."""


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
    meta = _metadata(data[:MAX_HEADER])
    if meta is None:
        if len(data) >= MAX_HEADER:
            raise CorruptSegmentError(f"a header longer than {MAX_HEADER} bytes")
        return None
    pos, values = meta
    codec = values.get("avro.codec", b"null").decode("utf-8", "replace")
    if codec not in CODECS:
        raise CorruptSegmentError(f"unsupported codec {codec[:40]!r}")
    try:
        schema = json.loads(values["avro.schema"])
        fingerprint = crc64_avro(schema)
    except KeyError:
        raise CorruptSegmentError("no writer schema in the header") from None
    except Exception as exc:  # hostile JSON: anything from ValueError to RecursionError
        raise CorruptSegmentError(f"an unreadable writer schema ({type(exc).__name__})") from None
    known = registry().by_fingerprint(fingerprint)
    if known is None:
        raise CorruptSegmentError(f"an unknown writer schema (fingerprint {fingerprint.hex()})")
    return Header(pos + SYNC_SIZE, data[pos : pos + SYNC_SIZE], codec, known.version, known.parsed)


def _metadata(data: bytes) -> tuple[int, dict[str, bytes]] | None:
    """The header's metadata map and where its sync marker starts; None while incomplete."""
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
            meta[key[0].decode("utf-8", "replace")] = value[0]
            pos = value[1]
    if pos + SYNC_SIZE > len(data):
        return None
    return pos, meta


def frames(
    data: bytes, start: int, sync: bytes, limit: int, max_block: int
) -> tuple[list[Frame], str]:
    """The whole blocks from ``start`` on, until ``limit`` records or an incomplete block;
    and why the bytes after them can never be a block ("" if they still may)."""
    out: list[Frame] = []
    pos, records = start, 0
    while records < limit:
        try:
            count = _long(data, pos)
            size = None if count is None else _long(data, count[1])
        except CorruptSegmentError as exc:
            return out, str(exc)
        if count is None or size is None:
            break
        if not 0 <= count[0] <= max_block or not 0 <= size[0] <= max_block:
            return out, f"a block of {count[0]} records in {size[0]} bytes (at most {max_block})"
        end = size[1] + size[0] + SYNC_SIZE
        if end > len(data):
            break
        if data[end - SYNC_SIZE : end] != sync:
            return out, "a sync marker out of place"
        out.append(Frame(pos, end, count[0], size[1]))
        records += count[0]
        pos = end
    return out, ""


def decode(
    header: Header, data: bytes, block: Frame, max_block: int, messages: list[bytes] | None = None
) -> list[EventRecord]:
    """The records of one block (``block`` is relative to ``data``), read with the current
    schema; a block that decompresses past ``max_block`` bytes is refused. ``messages``,
    given a block written with the current schema, receives each record as the message
    the producer sends (its own bytes behind the single-object header): no need to encode
    it again."""
    body = data[block.body : block.end - SYNC_SIZE]
    if header.codec == "deflate":
        body = inflate(body, max_block)
    current = registry().current
    reader = None if header.schema_version == current.version else current.parsed
    kept = messages if reader is None else None  # an older schema's bytes are not the message
    prefix = MESSAGE_MAGIC + current.fingerprint
    stream = io.BytesIO(body)
    records: list[EventRecord] = []
    for _ in range(block.count):
        start = stream.tell()
        records.append(cast("EventRecord", schemaless_reader(
            stream, header.writer, reader, return_record_name=True
        )))  # fmt: skip
        if kept is not None:
            kept.append(prefix + body[start : stream.tell()])
    if stream.tell() != len(body):
        raise CorruptSegmentError(f"a block of {block.count} records has bytes left over")
    return records


def inflate(body: bytes, max_bytes: int) -> bytes:
    """A raw deflate stream decompressed, never past ``max_bytes`` (a bomb stops there)."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise CorruptSegmentError(f"a block that does not inflate: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise CorruptSegmentError(f"a block that inflates past {max_bytes} bytes")
    if not inflater.eof:
        raise CorruptSegmentError("a block whose deflate stream is cut short")
    return out
