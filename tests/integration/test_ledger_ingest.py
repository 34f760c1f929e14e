"""ClickHouse decodes the events itself (``ledger/ingest_sql.py``), on the real engine (chdb):
every event type gives the row that Python builds from the same message, and a message it
cannot take is refused, never stored wrong. ``verify`` has ClickHouse render stored rows'
messages again with the view's own SQL, writing nothing: the text the fast path wrote."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, RENDERED, breaks, careful_json, chain
from handrail.ledger.client import connect
from handrail.ledger.errors import IngestRefused
from handrail.ledger.migrate import migrate
from handrail.ledger.rows import COLUMNS, TYPED_COLUMNS
from handrail.ledger.verify import render
from handrail.schemas import encode
from tests.support.ledger_inserts import insert
from tests.support.samples import event_record, sample_payloads

TOPIC = "handrail.events"


def write(client: Any, messages: list[bytes], careful: bool = False) -> str:
    """Write the messages as the sink does (one partition); the chain head."""
    items = build(TOPIC, 0, [(i, b"k", m) for i, m in enumerate(messages)], careful=careful)
    head = chain([row for table, row in items if table != "quarantine"], GENESIS)
    insert(client, TOPIC, {0: items})
    return head


def stored(client: Any) -> list[dict[str, Any]]:
    result = client.query(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY offset")
    return [dict(zip(COLUMNS, r, strict=True)) for r in result.result_rows]


def samples() -> list[bytes]:
    """Every event type, with nulls and without (times with and without micros)."""
    out = []
    for i, kind in enumerate(sorted(sample_payloads())):
        event = event_record(kind, sequence=i + 1)
        event["time"] += timedelta(microseconds=i * 1000)  # whole seconds for the first
        name, fields = event["payload"]
        later = {k: v + timedelta(microseconds=1500) if isinstance(v, datetime) else v
                 for k, v in fields.items()}  # fmt: skip
        other = {**event, "causation_id": None, "labels": {"k": "v/é"}, "payload": (name, later)}
        out += [encode(event), encode(other)]
    return out


def test_every_event_type_gives_the_row_python_builds(chdb_ledger: Any, tmp_path: Path) -> None:
    messages = samples()
    head = write(chdb_ledger, messages)
    fast = render(chdb_ledger, stored(chdb_ledger))  # with ClickHouse's renderings
    assert len(fast) == len(messages)
    assert next(breaks(fast, (fast[-1]["offset"], head)), None) is None  # verify's every check
    assert [row["event_json"] for row in fast] == [row[RENDERED] for row in fast]
    chdb_ledger.close()  # one embedded ledger per process: the careful way into a second
    python_ledger = connect(f"chdb://{tmp_path / 'python'}")
    try:
        migrate(python_ledger)
        assert write(python_ledger, messages, careful=True) == head
        slow = stored(python_ledger)
    finally:
        python_ledger.close()
    for a, b in zip(fast, slow, strict=True):
        assert {c: a[c] for c in TYPED_COLUMNS} == {c: b[c] for c in TYPED_COLUMNS}
        assert orjson.loads(a["event_json"]) == orjson.loads(b["event_json"])
        assert b["event_json"] == careful_json(b)  # Python's text, byte for byte
        assert (a["raw_hex"], a["row_hash"], a["schema_version"]) == (
            b["raw_hex"], b["row_hash"], b["schema_version"],
        )  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m + b"\x00",  # trailing bytes: the sentinel does not match
        lambda m: m[:-2],  # truncated
        lambda m: encode({**event_record("retry"), "sequence": -1}),
        lambda m: encode({**event_record("retry"), "event_id": "x" * 36}),
        lambda m: encode({**event_record("retry"), "event_id": event_record()["event_id"].upper()}),
    ],
    ids=["trailing", "truncated", "negative-sequence", "not-a-uuid", "not-canonical"],
)
def test_a_message_it_cannot_take_is_refused(chdb_ledger: Any, change: Any) -> None:
    good = [encode(event_record("retry")) for _ in range(3)]
    with pytest.raises(IngestRefused):
        write(chdb_ledger, [good[0], change(good[1]), good[2]])
    assert stored(chdb_ledger) == []  # the whole insert, not part of it


def test_clickhouse_renders_stored_rows_again_without_writing(chdb_ledger: Any) -> None:
    """``verify.render``: each row's ``event_json`` again, byte for byte, from its raw
    message; nothing is written. A row whose message ClickHouse cannot read (not one event:
    only in a ledger rewritten with its hashes) gets no rendering, the others keep theirs."""
    write(chdb_ledger, samples())
    rows = stored(chdb_ledger)
    counts = "SELECT (SELECT count() FROM events), (SELECT count() FROM system.tables)"
    before = chdb_ledger.query(counts).result_rows
    cut = {**rows[5], "raw_hex": rows[5]["raw_hex"][:-6], "event_json": "{}"}  # truncated
    page = render(chdb_ledger, [*rows[:5], cut, *rows[5:]])
    assert [row.get(RENDERED) for row in page] == [
        *(row["event_json"] for row in rows[:5]),
        None,
        *(row["event_json"] for row in rows[5:]),
    ]
    assert chdb_ledger.query(counts).result_rows == before
