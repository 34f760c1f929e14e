"""The released versions of the event schema, keyed by their CRC-64-AVRO fingerprints.

Every released version lives in ``avro/event.vN.avsc`` and never changes once released
(``tests/unit/test_schema_registry.py`` pins the fingerprints). The newest version is the
writer schema; older ones stay so that their messages (and spool files) can still be read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from handrail.schemas.compiled_writer import Writer, compile_writer

MAGIC = b"\xc3\x01"
"""The first two bytes of an Avro single-object message."""

_FILE = re.compile(r"event\.v(\d+)\.avsc")


@dataclass(frozen=True)
class SchemaVersion:
    """One released schema version. What is made from its schema is made on first use (an
    agent writes only the current version; older ones are read when a message has them)."""

    version: int
    fingerprint: bytes
    """8 bytes, little-endian, as in the Avro single-object header."""
    schema: dict[str, Any]
    """The schema as written (JSON), for other Avro implementations."""

    @cached_property
    def parsed(self) -> Any:
        """The fastavro-parsed schema."""
        return parse_schema(self.schema)

    @cached_property
    def plain(self) -> Any:
        """The same, parsed without the envelope's logical types: ``event_id`` reads as its
        string, ``time`` as its int micros (the payload is read as ``parsed`` reads it).
        Cheaper to read, for consumers that format those two themselves (the ledger)."""
        return parse_schema(_plain_envelope(self.schema))

    @cached_property
    def writer(self) -> Writer:
        """``parsed``'s compiled writer: the single-object header, then the record's body."""
        return compile_writer(self.parsed, MAGIC + self.fingerprint)


@dataclass(frozen=True, slots=True)
class Registry:
    """All released versions; ``current`` is the one we write."""

    versions: tuple[SchemaVersion, ...]

    @property
    def current(self) -> SchemaVersion:
        return self.versions[-1]

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        for v in self.versions:
            if v.fingerprint == fp:
                return v
        return None


def crc64_avro(schema: dict[str, Any]) -> bytes:
    """The Avro CRC-64 fingerprint of ``schema``'s parsing canonical form, little-endian."""
    # fastavro renders the fingerprint as hex of its little-endian bytes.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _plain_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the envelope's own fields' logical types dropped (payload untouched)."""
    fields = [
        {**f, "type": {k: v for k, v in f["type"].items() if k != "logicalType"}}
        if isinstance(f["type"], dict) and "logicalType" in f["type"]
        else f
        for f in schema["fields"]
    ]
    return {**schema, "fields": fields}


@cache
def registry() -> Registry:
    """Load every released schema shipped in the package (once per process)."""
    found: list[SchemaVersion] = []
    for entry in resources.files(__package__).joinpath("avro").iterdir():
        match = _FILE.fullmatch(entry.name)
        if not match:
            continue
        schema = json.loads(entry.read_text(encoding="utf-8"))
        found.append(SchemaVersion(int(match[1]), crc64_avro(schema), schema))
    found.sort(key=lambda v: v.version)
    return Registry(tuple(found))
