"""Spends the detectors cannot add up (NaN, ±inf, negative), recorded by an agent through
the SDK, read by the real embedded pipeline (real spool, journal and chdb ledger), which is
then restarted from the same files.

Before the fix, the journal (JSON) saved ``null`` for the NaN; once the spend's bucket
closed after a restart the detectors raised ``TypeError`` on it, and every later start died
the same way. Now the pipeline raises one ``spend-unreadable`` alert naming the first such
event (and halts the agent: a per-call cap applies), keeps only finite numbers in its state,
and goes on after the restart, counting the spends it can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.config.thresholds import DetectorRules
from handrail.control.log import ControlLog
from handrail.embedded.journal import Journal
from handrail.embedded.pipeline import JOURNAL, Pipeline
from handrail.producers import Recorder
from handrail.schemas import decode, event_type
from handrail.settings import (
    AgentIdentity,
    LedgerSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)

pytestmark = pytest.mark.timeout(180)
BUCKET_S = 0.5
RULES = {  # small windows: the spends' buckets close within a second or two
    "defaults": {
        "spend": {"bucket_s": BUCKET_S, "short_window_s": 1, "long_window_s": 2,
                  "warmup_buckets": 2, "cap_clear_s": 600},
    }
}  # fmt: skip
KEY = "spend-unreadable:buyer"
UNREADABLE = (float("nan"), float("inf"), float("-inf"), -3.0)


def settings(tmp: Path) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        ledger=LedgerSettings(
            dsn=f"chdb://{tmp / 'ledger'}", checkpoint_dir=tmp / "checkpoints",
            batch_max_seconds=0.05,
        ),
        processors=ProcessorSettings(
            rules=DetectorRules.model_validate(RULES), tick_interval_s=0.05
        ),
    )  # fmt: skip


def record(tmp: Path) -> tuple[list[str], float]:
    """A buyer's spends: $0.50, the unreadable ones, $0.25. Returns their event ids and
    the time of the last one."""
    ids = []
    buyer = AgentIdentity(name="buyer", owner="team-buy")
    with Recorder(settings(tmp), buyer) as rec, rec.workflow("wf-buy"):
        for usd in (0.5, *UNREADABLE, 0.25):
            # past the SDK's validation, which refuses them: as an older or hostile
            # producer writes them into the spool
            fields = {"usd": usd, "provider": "prov", "model": "model", "input_tokens": 0,
                      "output_tokens": 0, "action": None}  # fmt: skip
            ids.append(rec._emit(("spend", fields)).event_id)
    return ids, time.time()


def series(pipeline: Pipeline) -> dict[str, Any] | None:
    spend = pipeline.detectors.state("agent:buyer").get("spend", {})
    found: dict[str, Any] | None = spend.get("series", {}).get("*")
    return found


async def drive(pipeline: Pipeline, done: Callable[[], bool], timeout: float = 60) -> None:
    """Step the pipeline (as ``run`` does) until ``done``; then stop it as ``run`` does on
    SIGTERM (its journal committed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delivery = None
    try:
        await asyncio.to_thread(pipeline._recover)
        delivery = asyncio.create_task(pipeline._deliver())
        while not done():
            assert loop.time() < deadline, (
                f"the pipeline never got there: {pipeline.sources} {series(pipeline)}"
            )
            if not await pipeline.step():
                await asyncio.sleep(0.02)
        pipeline._commit()
    finally:
        if delivery is not None:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
        pipeline.close()


def read_everything(pipeline: Pipeline, ids: list[str], client: Any) -> Callable[[], bool]:
    def done() -> bool:
        if pipeline.sources or pipeline.outputs.own or pipeline.outputs.outbox:
            return False
        rows = client.query("SELECT count() FROM events WHERE startsWith(topic, 'spool:')")
        return bool(rows.result_rows[0][0] >= len(ids))

    return done


def folded_past(pipeline: Pipeline, last_spend: float) -> Callable[[], bool]:
    """True once drift has closed (folded into its baseline) the bucket of the last spend,
    and two more buckets than the state this pipeline restored had closed."""
    restored = series(pipeline)
    target = math.floor(last_spend / BUCKET_S)
    if restored is not None and restored["folded"] is not None:
        target = max(target, restored["folded"] + 2)

    def done() -> bool:
        s = series(pipeline)
        return s is not None and s["folded"] is not None and s["folded"] >= target

    return done


def finite_numbers_only(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_numbers_only(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers_only(v) for v in value)
    return True


def test_unreadable_spends_alert_once_and_survive_a_restart(
    tmp_path: Path, chdb_ledger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    ids, last = record(tmp_path)
    first = Pipeline(settings(tmp_path), chdb_ledger)
    asyncio.run(drive(first, read_everything(first, ids, chdb_ledger)))
    again = Pipeline(settings(tmp_path), chdb_ledger)  # the restart, from the same journal
    asyncio.run(drive(again, folded_past(again, last)))
    third = Pipeline(settings(tmp_path), chdb_ledger)  # and every later start
    asyncio.run(drive(third, folded_past(third, last)))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    rows = chdb_ledger.query(
        "SELECT type, event_json FROM events WHERE NOT startsWith(topic, 'spool:')"
    ).result_rows
    own = [(kind, orjson.loads(data)["payload"]) for kind, data in rows]
    raised = [p for kind, p in own if kind == "alert_raised"]
    assert [p["dedup_key"] for p in raised] == [KEY], "one alert, for the first unreadable"
    (alert,) = raised
    nan_event = ids[1]
    assert alert["evidence"] == [nan_event]
    assert nan_event in alert["summary"]
    assert "usd=nan" in alert["summary"]
    assert alert["severity"] == "critical"
    values, _ = ControlLog(tmp_path / "control.log").read()
    halts = [decode(v)[1]["payload"][1] for v in values if event_type(decode(v)[1]) == "halt"]
    assert [(h["target_agent"], h["alert_dedup_key"]) for h in halts] == [("buyer", KEY)]

    journal = Journal(settings(tmp_path).ledger.checkpoint_path, JOURNAL, fsync=False)
    try:
        state = journal.maps["state"]["agent:buyer"]["spend"]
    finally:
        journal.close()
    assert finite_numbers_only(state)
    s = state["series"]["*"]
    assert s["samples"] > 0
    assert isinstance(s["baseline"], float)
    assert 0 < s["baseline"] <= 0.75 / BUCKET_S  # the readable spends only
