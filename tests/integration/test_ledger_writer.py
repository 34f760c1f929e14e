"""The ledger writer's contract on a real engine: the embedded one (chdb) by default, a
ClickHouse server when ``HANDRAIL_TEST_CLICKHOUSE_DSN``
(``http://user:password@host:8123/database``) names an empty database the tests may fill
(each test empties its tables first)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from tests.support.ledger_contract import Ledger, LedgerWriterContract

SERVER_DSN = os.environ.get("HANDRAIL_TEST_CLICKHOUSE_DSN", "")


def emptied(client: Any) -> None:
    """A server database's tables emptied (its migrations kept)."""
    for (table,) in client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree'"
    ).result_rows:
        if table != "schema_migrations":
            client.command(f"TRUNCATE TABLE `{table}`")


class TestLedgerWriter(LedgerWriterContract):
    @pytest.fixture
    def ledger(self, tmp_path: Path) -> Iterator[Ledger]:
        client = connect(SERVER_DSN or f"chdb://{tmp_path / 'ledger'}")
        try:
            migrate(client)
            if SERVER_DSN:
                emptied(client)
            yield client, Checkpoints(tmp_path / "checkpoints")
        finally:
            client.close()
