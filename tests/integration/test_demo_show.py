"""The demo's live lines, read from a real ledger (chdb): an alert's text is an agent's
words (a retry reason, an action name) and is shown as written, never read as markup."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from handrail.demo.show import Demo
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents
from handrail.schemas import decode
from tests.support.ledger_inserts import insert_records

SUMMARY = "payments retried [bold]charge[/] 6 times within 10m (budget 5); last reason: [/]"


def test_an_alert_is_shown_as_written(tmp_path: Path) -> None:
    storm = Finding("retry_storm", "retry-storm:payments:op-1", SUMMARY, "payments",
                    "team-billing", "order-1", "critical", "op-1", ())  # fmt: skip
    records = [decode(o.value)[1] for o in FindingEvents("handrail", {}).encode([storm])]
    client = connect(f"chdb://{tmp_path / 'ledger'}")
    try:
        migrate(client)
        insert_records(client, records)
    finally:
        client.close()
    out = io.StringIO()
    demo = Demo(tmp_path, None, Console(file=out, width=300))
    assert len(demo._poll().alerts) == 1
    assert f"ALERT {SUMMARY}" in out.getvalue()
