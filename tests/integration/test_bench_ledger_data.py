"""bench.ledger's synthetic rows are ledger rows: every column of the current layout, and
typed columns that are those the ledger's own builder (``rows.typed_columns``) makes of
each row's ``event_json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from bench import _ledger_data
from bench._ledger_data import row_select, synthetic_insert
from handrail.ledger.rows import COLUMNS, TYPED_COLUMNS, typed_columns

START = int(datetime(2026, 10, 14, 12, tzinfo=UTC).timestamp())


def _as_event(column: str, value: Any) -> Any:
    """A stored value as ``typed_columns`` reads it from the JSON (ids and times as text)."""
    if column == "event_id":
        return str(value)
    if column == "time":
        return value.replace(tzinfo=UTC)
    return value


def test_synthetic_rows_match_the_ledgers_builder(chdb_ledger: Any) -> None:
    n = 3000
    chdb_ledger.command(synthetic_insert(n, START))
    rows = list(chdb_ledger.query(f"SELECT {', '.join(COLUMNS)} FROM events").named_results())
    assert len(rows) == n
    kinds = set()
    for row in rows:
        expected = typed_columns(orjson.loads(row["event_json"]))
        expected["time"] = datetime.fromisoformat(expected["time"])
        got = {c: _as_event(c, row[c]) for c in TYPED_COLUMNS}
        assert got == expected, row["event_json"]
        assert row["raw_hex"]
        kinds.add(row["type"])
    assert len(kinds) >= 15  # every kind the generator makes, so every branch was checked


def test_a_ledger_column_without_an_expression_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ledger_data, "COLUMNS", (*COLUMNS, "new_column"))
    with pytest.raises(ValueError, match="new_column"):
        row_select()
