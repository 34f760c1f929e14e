"""Every row hash of a real ledger recomputed from the layout in docs/security.md with
``hashlib`` alone: nothing of ``handrail.ledger.chain`` is used to check them.

The ledger (chdb) holds events of every type, written as the sink writes them: decoded by
ClickHouse (current schema) and by Python (the careful path, and messages of schema
version 1), in several batches per partition, with quarantined messages between them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from handrail.ledger.batches import build, inserts, runs
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.inserter import Insert, Inserter
from handrail.schemas import encode, registry
from tests.support.samples import SAMPLE_FIELDS, event_record

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TOPIC = "handrail.events"
ZEROS = "0" * 64
QUARANTINE_TAG = b"\x00handrail quarantine row"


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """docs/security.md, "Event rows"."""
    tail = f"\n{row['schema_version']}\n{row['topic']}/{row['partition']}/{row['offset']}"
    data = bytes.fromhex(prev_hash) + bytes.fromhex(row["raw_hex"]) + tail.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def quarantine_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """docs/security.md, "Quarantine rows"."""

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(8, "big") + data

    position = f"{row['topic']}/{row['partition']}/{row['offset']}"
    data = b"".join((
        bytes.fromhex(prev_hash),
        field(bytes.fromhex(row["key_hex"])),
        field(bytes.fromhex(row["raw_hex"])),
        field(row["error_type"].encode("utf-8")),
        field(row["error"].encode("utf-8")),
        field(position.encode("utf-8")),
        QUARANTINE_TAG,
    ))  # fmt: skip
    return hashlib.sha256(data).hexdigest()


def _messages() -> dict[int, list[list[bytes]]]:
    """Per partition, its batches of message values: every type in the current schema and
    (but ``alert_delivered``, which it lacks) in version 1, and undecodable messages."""
    v1 = registry().versions[0]
    assert v1.version == 1
    current = [encode(event_record(kind, sequence=i)) for i, kind in enumerate(SAMPLE_FIELDS)]
    old = []
    for i, kind in enumerate(SAMPLE_FIELDS):
        if kind != "alert_delivered":
            record = event_record(kind, sequence=100 + i)
            del record["labels"]
            old.append(encode(record, v1))
    bad = [b"not avro", current[0][:12], b""]
    return {
        0: [current[:9], [bad[0], *old[:8], bad[1]], current[9:]],
        1: [[*old[8:], bad[2]], current],  # the careful path: every row decoded in Python
    }


def _write(client: Any) -> None:
    inserter = Inserter(client, lambda insert: None)
    try:
        for partition, batches in _messages().items():
            head, offset = GENESIS, 0
            for batch in batches:
                messages = []
                for value in batch:
                    messages.append((offset, f"key-{offset}".encode(), value))
                    offset += 1
                items = build(TOPIC, partition, messages, careful=partition == 1)
                head = chain((row for _, row in items), head)
                for table, rows, token in inserts({(TOPIC, partition): runs(items)}):
                    inserter.submit(Insert.of(table, rows, token))
        inserter.wait()
    finally:
        inserter.close()


def _rows(client: Any) -> list[dict[str, Any]]:
    """Every row of the ledger (events and quarantine), by chain and offset."""
    result = client.query(
        "SELECT * FROM (SELECT 'event' AS kind, topic, partition, offset, prev_hash, "
        "row_hash, raw_hex, schema_version, type, '' AS key_hex, '' AS error_type, "
        "'' AS error FROM events "
        "UNION ALL "
        "SELECT 'quarantine', topic, partition, offset, prev_hash, row_hash, raw_hex, "
        "0, '', key_hex, error_type, error FROM quarantine) "
        "ORDER BY topic, partition, offset"
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def test_every_row_hash_follows_the_documented_layout(chdb_ledger: Any) -> None:
    _write(chdb_ledger)
    rows = _rows(chdb_ledger)
    sent = {p: sum(len(b) for b in batches) for p, batches in _messages().items()}
    assert len(rows) == sum(sent.values())
    events = [r for r in rows if r["kind"] == "event"]
    assert {r["type"] for r in events} == set(SAMPLE_FIELDS)
    assert {r["schema_version"] for r in events} == {1, registry().current.version}
    assert sum(r["kind"] == "quarantine" for r in rows) == 3

    heads: dict[tuple[str, int], tuple[int, str]] = {}
    for row in rows:
        chain_key = (row["topic"], row["partition"])
        last_offset, head = heads.get(chain_key, (-1, ZEROS))
        assert row["offset"] == last_offset + 1, row
        assert row["prev_hash"] == head, f"{chain_key} offset {row['offset']}: a broken link"
        recompute = quarantine_hash if row["kind"] == "quarantine" else event_hash
        assert row["row_hash"] == recompute(head, row), f"{chain_key} offset {row['offset']}"
        heads[chain_key] = (row["offset"], row["row_hash"])
    assert {key: offset + 1 for key, (offset, _) in heads.items()} == {
        (TOPIC, p): n for p, n in sent.items()
    }


def test_the_documented_sql_recomputes_every_row_hash(chdb_ledger: Any) -> None:
    _write(chdb_ledger)
    section = DOC.read_text().split("### Checking it yourself", 1)[1]
    block = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    assert block is not None
    queries = [q for q in block.group(1).split(";") if q.strip()]
    assert len(queries) == 2  # events, quarantine
    counts = [chdb_ledger.query(q).result_rows[0] for q in queries]
    assert counts[0][0] > 0
    assert counts[1][0] == 3
    assert all(rows == matching for rows, matching in counts)
