"""The wire format: Avro single-object encoding.

A message is ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's parsing canonical form, then the Avro binary body. Any Avro implementation can
decode it with no schema registry: look the fingerprint up among the released schemas in
``schemas/avro/`` and read the body with that writer schema.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from handrail.schemas.errors import (
    BadHeaderError,
    CorruptBodyError,
    TruncatedBodyError,
    UnknownFingerprintError,
)
from handrail.schemas.registry import MAGIC, SchemaVersion, registry

HEADER_SIZE = len(MAGIC) + 8

EventRecord = dict[str, Any]
"""An event as fastavro reads and writes it; ``payload`` is ``(avro name, fields)``."""


def encode(record: EventRecord, version: SchemaVersion | None = None) -> bytes:
    """Encode one event record with ``version`` (default: the current schema).

    The version's compiled writer takes the records the SDK builds; any other record
    goes to fastavro, which writes or rejects it."""
    v = version or registry().current
    try:
        return bytes(v.writer(record))
    except Exception:  # a shape the compiled writer does not take
        pass
    out = BytesIO()
    out.write(MAGIC)
    out.write(v.fingerprint)
    schemaless_writer(out, v.parsed, record)
    return out.getvalue()


def decode(
    message: bytes, *, logical: bool = True, resolve: bool = True
) -> tuple[SchemaVersion, EventRecord]:
    """Decode a message into the current schema's shape; return its writer version too.

    ``resolve=False`` leaves it in its writer's shape (what the writer wrote, whatever
    the current schema: the ledger stores events that way).

    ``logical=False`` leaves the envelope's logical types as their Avro primitives
    (``event_id`` a str, ``time`` int micros), which reads about a third faster; the
    ledger's sink does that.

    Raises ``BadHeaderError``, ``UnknownFingerprintError``, ``TruncatedBodyError`` or
    ``CorruptBodyError`` (all ``DecodeError``) with the reason.
    """
    if len(message) < HEADER_SIZE or message[:2] != MAGIC:
        raise BadHeaderError(
            f"not an Avro single-object message: expected C3 01 and an 8-byte fingerprint, "
            f"got {bytes(message[:HEADER_SIZE]).hex(' ') or 'nothing'}"
        )
    reg = registry()
    writer = reg.by_fingerprint(bytes(message[2:HEADER_SIZE]))
    if writer is None:
        raise UnknownFingerprintError(bytes(message[2:HEADER_SIZE]))
    body = BytesIO(message)
    body.seek(HEADER_SIZE)
    try:
        current = reg.current.parsed if logical else reg.current.plain
        schema = writer.parsed if logical else writer.plain
        reader = None if writer is reg.current or not resolve else current  # old ones only
        record = schemaless_reader(body, schema, reader, return_record_name=True)
    except EOFError as exc:
        raise TruncatedBodyError(
            f"body ends early ({len(message) - HEADER_SIZE} bytes) for schema v{writer.version}"
        ) from exc
    except Exception as exc:  # fastavro raises many types on garbage input
        raise CorruptBodyError(
            f"body is not a valid v{writer.version} event: {type(exc).__name__}: {exc}"
        ) from exc
    if body.tell() != len(message):
        raise CorruptBodyError(
            f"{len(message) - body.tell()} trailing bytes after a v{writer.version} event"
        )
    if not isinstance(record, dict):
        raise CorruptBodyError(f"body decoded to {type(record).__name__}, not a record")
    return writer, record
