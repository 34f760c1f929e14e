"""The ledger writer's contract on the embedded engine (chdb)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from tests.support.ledger_contract import Ledger, LedgerWriterContract


class TestChdbLedger(LedgerWriterContract):
    @pytest.fixture
    def ledger(self, tmp_path: Path) -> Iterator[Ledger]:
        client = connect(f"chdb://{tmp_path / 'ledger'}")
        try:
            migrate(client)
            yield client, Checkpoints(tmp_path / "checkpoints")
        finally:
            client.close()
