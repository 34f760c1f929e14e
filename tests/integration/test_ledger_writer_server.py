"""The ledger writer's contract on a ClickHouse server, where one is given:
``HANDRAIL_TEST_CLICKHOUSE_DSN`` (``http://user:password@host:8123/database``) names an
empty database the tests may fill (each test empties its tables first)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from tests.support.ledger_contract import Ledger, LedgerWriterContract

DSN = os.environ.get("HANDRAIL_TEST_CLICKHOUSE_DSN", "")

pytestmark = pytest.mark.skipif(not DSN, reason="no ClickHouse server given")


class TestServerLedger(LedgerWriterContract):
    @pytest.fixture
    def ledger(self, tmp_path: Path) -> Iterator[Ledger]:
        client = connect(DSN)
        try:
            migrate(client)
            for (table,) in client.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase() "
                "AND engine LIKE '%MergeTree'"
            ).result_rows:
                if table != "schema_migrations":
                    client.command(f"TRUNCATE TABLE `{table}`")
            yield client, Checkpoints(tmp_path / "checkpoints")
        finally:
            client.close()
