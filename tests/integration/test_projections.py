"""The ``by_agent`` projection of ``events`` is held against the table (real chdb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.projections import check, projections
from handrail.ledger.verify import verify
from tests.integration.test_ledger_ingest import samples, write


def test_an_untouched_ledger_has_the_same_rows_in_its_projection(chdb_ledger: Any) -> None:
    write(chdb_ledger, samples())
    assert projections(chdb_ledger) == ["by_agent"]
    assert check(chdb_ledger) == []


def test_a_projection_cleared_behind_the_table_is_named(chdb_ledger: Any) -> None:
    write(chdb_ledger, samples())
    chdb_ledger.command(
        "ALTER TABLE events CLEAR PROJECTION by_agent", settings={"mutations_sync": 2}
    )
    [finding] = check(chdb_ledger)
    assert (finding.projection, finding.agent) == ("by_agent", "a")
    assert "0 rows, the table 40" in str(finding)


def test_verify_names_it(chdb_ledger: Any, tmp_path: Path) -> None:
    write(chdb_ledger, samples())
    chdb_ledger.command(
        "ALTER TABLE events CLEAR PROJECTION by_agent", settings={"mutations_sync": 2}
    )
    report = verify(chdb_ledger, Checkpoints(tmp_path / "none"))
    assert [f.check for f in report.broken if f.check == "projection"] == ["projection"]
