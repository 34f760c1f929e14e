"""The README's first command: the demo on the embedded default, as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from handrail.producers.spool import read_all
from handrail.schemas import event_type


def test_demo_records_the_workflows_into_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    result = subprocess.run(
        [sys.executable, "-m", "handrail", "demo", "--spool-dir", str(spool)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},  # no HANDRAIL_* or Kafka settings
    )
    assert result.returncode == 0, result.stderr
    assert "ticket-1, ticket-2" in result.stdout
    events = list(read_all(spool))
    assert len(events) == 27  # ticket-1: 17 events, ticket-2 (rejected at the analyst): 10
    types = [event_type(e) for e in events]
    assert types.count("handoff_rejected") == 1
    assert types.count("action_executed") == 1
    rejected = next(e for e in events if event_type(e) == "handoff_rejected")
    assert rejected["workflow_id"] == "ticket-2"
    assert "handoff_rejected" in result.stdout
