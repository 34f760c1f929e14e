"""Avro object container files built by hand, to poison a spool with: any schema, any codec,
any block, a deflate bomb (pure, apart from ``poison``, which writes files)."""

from __future__ import annotations

import io
import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_writer

from handrail.schemas import EventRecord, registry
from tests.support.samples import event_record

MAGIC = b"Obj\x01"
SYNC = bytes(range(16))


def long(n: int) -> bytes:
    """Avro's zigzag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def header(schema: dict[str, Any], codec: str = "null", sync: bytes = SYNC) -> bytes:
    meta = {b"avro.schema": json.dumps(schema).encode(), b"avro.codec": codec.encode()}
    body = b"".join(long(len(k)) + k + long(len(v)) + v for k, v in meta.items())
    return MAGIC + long(len(meta)) + body + long(0) + sync


def block(count: int, body: bytes, sync: bytes = SYNC) -> bytes:
    return long(count) + long(len(body)) + body + sync


def encoded(records: list[Any], schema: dict[str, Any] | None = None) -> bytes:
    """The records' bytes, one after the other, written with ``schema`` (ours by default)."""
    parsed = parse_schema(schema) if schema is not None else registry().current.parsed
    out = io.BytesIO()
    for record in records:
        schemaless_writer(out, parsed, record)
    return out.getvalue()


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def bomb(inflated: int) -> bytes:
    """A raw deflate stream of ``inflated`` zero bytes (about a thousandth of that)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(inflated >> 20)]
    return b"".join(parts) + packer.flush()


def records(n: int) -> list[EventRecord]:
    return [event_record(sequence=s) for s in range(1, n + 1)]


def with_extra_field(schema: dict[str, Any]) -> dict[str, Any]:
    """Our schema with one more field at the end of the envelope."""
    extra = {"name": "extra", "type": "string", "default": ""}
    return {**schema, "fields": [*schema["fields"], extra]}


def poison(session: Path, *, bomb_bytes: int = 200 << 20) -> dict[str, list[str]]:
    """Poison a session directory that holds a good ``seg-00000001.avro``: every way of
    the issue, each as its own file. Returns the event ids of the good records the poisoned
    files also hold (a bomb file's good blocks), keyed by file name."""
    current = registry().current.schema
    good = session / "seg-00000001.avro"
    shutil.copy(good, session / "seg-4294967296.avro")  # a number out of range
    shutil.copy(good, session / "seg-1.avro")  # segment 1 again, under another name
    shutil.copy(good, session / "notes.avro")  # a name off the layout
    (session / "seg-00000002.avro").symlink_to("/etc/passwd")
    before, after = records(2), records(1)
    (session / "seg-00000003.avro").write_bytes(
        header(current, "deflate")
        + block(2, deflate(encoded(before)))
        + block(1, bomb(bomb_bytes))
        + block(1, deflate(encoded(after)))
    )
    extra = with_extra_field(current)
    smuggled = [{**r, "extra": "smuggled"} for r in records(2)]
    (session / "seg-00000004.avro").write_bytes(header(extra) + block(2, encoded(smuggled, extra)))
    sync_broken = records(3)
    (session / "seg-00000005.avro").write_bytes(
        header(current)
        + block(2, encoded(sync_broken[:2]))
        + block(1, encoded(sync_broken[2:]), sync=bytes(16))
    )
    os.mkfifo(session / "seg-00000006.avro")  # opening it for reading would block
    return {"seg-00000003.avro": [str(r["event_id"]) for r in before + after],
            "seg-00000005.avro": [str(r["event_id"]) for r in sync_broken[:2]]}  # fmt: skip
