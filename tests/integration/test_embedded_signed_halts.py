"""The embedded pipeline (real spool, journal and chdb ledger) signs the halts it appends
to the control log with the processors' key, and raises a critical "forged control
entry" alert, in the ledger, for a resume nobody signed that a process recorded, and for
one dated 2299 written straight into the control log (never recorded in a spool); the
signed halt is the one agents honour, and the forged resumes lift nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.config.thresholds import DetectorRules
from handrail.control.log import ControlLog
from handrail.control.state import ControlState
from handrail.embedded.pipeline import Pipeline
from handrail.producers import Recorder
from handrail.schemas import decode, encode
from handrail.schemas.models import Resume
from handrail.settings import (
    AgentIdentity,
    GovernanceSettings,
    LedgerSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)
from tests.integration.test_nonfinite_spend import drive
from tests.support.samples import event_record
from tests.support.signers import PROCESSOR, authority, governance_yaml, key_file

pytestmark = pytest.mark.timeout(180)
RULES = {"defaults": {"retry": {"max_retries": 3, "window_s": 30}}}


def settings(tmp: Path, pipeline: bool = False) -> Settings:
    """The agents' settings, or (``pipeline``) the pipeline's: the governance file and the
    processors' key."""
    (tmp / "governance.yaml").write_text(governance_yaml())
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        ledger=LedgerSettings(
            dsn=f"chdb://{tmp / 'ledger'}", checkpoint_dir=tmp / "checkpoints",
            batch_max_seconds=0.05,
        ),
        processors=ProcessorSettings(
            rules=DetectorRules.model_validate(RULES), tick_interval_s=0.05,
            signing_key=key_file(tmp, PROCESSOR) if pipeline else None,
        ),
        governance=GovernanceSettings(file=tmp / "governance.yaml" if pipeline else None),
    )  # fmt: skip


def own_rows(client: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = client.query(
        "SELECT type, event_json FROM events WHERE NOT startsWith(topic, 'spool:')"
    ).result_rows
    return [(kind, orjson.loads(data)) for kind, data in rows]


def test_halts_are_signed_and_a_forged_resume_is_alerted(tmp_path: Path, chdb_ledger: Any) -> None:
    payer = AgentIdentity(name="payer", owner="team-pay")
    with Recorder(settings(tmp_path), payer) as rec, rec.workflow("wf-pay"):
        for attempt in range(1, 6):  # a retry storm: the pipeline halts op-1
            rec.retry("api.charge", "op-1", attempt, "HTTP 503")
    cli = AgentIdentity(name="handrail-cli", owner="mallory")
    with Recorder(settings(tmp_path), cli) as rec:
        lie = rec.record(Resume(scope="operation", target_agent="payer", operation_id="op-1",
                                reason="all good", by="alice"), workflow_id="wf-pay")  # fmt: skip
    straight = event_record("resume", agent="handrail-cli", scope="operation",
                            target_agent="payer", operation_id="op-1", reason="trust me",
                            by="alice")  # fmt: skip
    straight["time"], straight["workflow_id"] = datetime(2299, 1, 1, tzinfo=UTC), "wf-pay"
    ControlLog(tmp_path / "control.log").append([encode(straight)])
    pipeline = Pipeline(settings(tmp_path, pipeline=True), chdb_ledger)

    def done() -> bool:
        kinds = [kind for kind, _ in own_rows(chdb_ledger)]
        return kinds.count("alert_raised") >= 3 and "halt" in kinds

    asyncio.run(drive(pipeline, done))
    raised = {e["payload"]["dedup_key"]: e["payload"] for kind, e in own_rows(chdb_ledger)
              if kind == "alert_raised"}  # fmt: skip
    # keyed forged-control:<event id>:<digest of the entry>; read twice, alerted once
    forged_keys = [k.split(":")[1] for k in raised if k.startswith("forged-control:")]
    assert sorted(forged_keys) == sorted([lie.event_id, str(straight["event_id"])])
    by_id = {k.split(":")[1]: p for k, p in raised.items() if k.startswith("forged-control:")}
    forged = by_id[lie.event_id]
    assert forged["severity"] == "critical"
    assert forged["summary"].startswith("forged control entry: resume")
    assert forged["subject_agent"] == "payer"
    assert by_id[str(straight["event_id"])]["severity"] == "critical"

    control = ControlState("payer", authority())
    for value in ControlLog(tmp_path / "control.log").read()[0]:
        control.apply(decode(value)[1])
    assert "operation op-1 of payer is halted" in (control.halt("payer", "op-1") or "")
    assert [(f.kind, f.event_id) for f in control.forged] == [
        ("resume", lie.event_id), ("resume", str(straight["event_id"]))]  # fmt: skip
