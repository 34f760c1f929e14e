"""A batch of events as the Avro object container file ``events_ingest_vN`` reads (pure).

Each ``Row`` record (``ingest_sql.row_schema``) is written by hand from bytes the sink
already has: no event is decoded or encoded here. The event's body is copied from its
message as the producer wrote it (only messages of the current schema version come this
way, ``batches.py``); the other fields are the row's position, version, hashes and raw
message. See ``ledger/ingest_sql.py`` for what ClickHouse does with them.
"""

from __future__ import annotations

import os
import struct
from functools import cache
from io import BytesIO
from typing import Any

import fastavro

from handrail.ledger.ingest_sql import row_schema, table_name
from handrail.schemas import SchemaVersion, registry
from handrail.schemas.compiled_writer import avro_long

_OFFSET_VERSION = struct.Struct("<QH")
_OFFSET = struct.Struct("<Q")
_PARTITION = struct.Struct("<I")
_HASH = b"\x80\x01"  # a 64-character string's length, as an Avro long
FORMAT = "Avro"


class BlockWriter:
    """Writes blocks of one schema version's ingest rows (the current one by default)."""

    def __init__(self, version: SchemaVersion | None = None) -> None:
        self.version = version or registry().current
        self.table = table_name(self.version)
        self._sync = os.urandom(16)
        header = BytesIO()
        schema = fastavro.parse_schema(row_schema(self.version.schema))
        fastavro.writer(header, schema, [], sync_marker=self._sync)
        self._header = header.getvalue()

    def block(self, rows: list[dict[str, Any]]) -> bytes:
        """The container file of ``rows`` (``ingest`` rows, chained: see ``batches``)."""
        heads: dict[tuple[str, int], bytes] = {}
        parts: list[bytes] = []
        for row in rows:
            raw: bytes = row["raw"]
            offset = row["offset"]
            where = (row["topic"], row["partition"])
            head = heads.get(where)
            if head is None:
                topic = where[0].encode()
                head = heads[where] = avro_long(len(topic)) + topic + _PARTITION.pack(where[1])
            parts += (
                head, _OFFSET_VERSION.pack(offset, row["schema_version"]),
                _HASH, row["prev_hash"].encode(), _HASH, row["row_hash"].encode(),
                avro_long(len(raw)), raw, row["body"], _OFFSET.pack(offset),
            )  # fmt: skip
        data = b"".join(parts)
        counts = avro_long(len(rows)) + avro_long(len(data))
        return b"".join((self._header, counts, data, self._sync))


@cache
def writer() -> BlockWriter:
    """The current schema version's writer (one per process)."""
    return BlockWriter()
