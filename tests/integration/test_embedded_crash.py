"""The embedded pipeline dies (as with ``kill -9``) at each moment that matters, and a new
one takes over from the same files and ledger (real chdb, real spool): no event is lost or
written twice, no alert raised, halted or paged twice.

The crash is staged in one process: the pipeline is driven step by step, an injected
failure stops it at the chosen point, and it is dropped without writing anything more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.config.thresholds import DetectorRules
from handrail.control.log import ControlLog
from handrail.embedded.pipeline import Pipeline
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.verify import verify
from handrail.producers import Recorder
from handrail.schemas import decode, event_type
from handrail.settings import (
    AgentIdentity,
    LedgerSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)

pytestmark = pytest.mark.timeout(300)
STORM = "retry-storm:payer:op-1"


class CrashError(Exception):
    """The process dies here."""


def settings(tmp: Path) -> Settings:
    rules = {"defaults": {"retry": {"max_retries": 3, "window_s": 600}}}
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        ledger=LedgerSettings(
            dsn=f"chdb://{tmp / 'ledger'}", checkpoint_dir=tmp / "checkpoints",
            batch_max_seconds=0.05,
        ),
        processors=ProcessorSettings(rules=DetectorRules.model_validate(rules)),
    )  # fmt: skip


def record_storm(tmp: Path) -> list[str]:
    """A payer that retries one operation five times, among other events."""
    ids = []
    with Recorder(settings(tmp), AgentIdentity(name="payer", owner="team-pay")) as rec:
        with rec.workflow("wf-storm"):
            for attempt in range(1, 6):
                ids.append(rec.decision("api.charge", f"try {attempt}").event_id)
                ids.append(rec.retry("api.charge", "op-1", attempt, "HTTP 503").event_id)
        ids += [rec.heartbeat(interval_s=600).event_id for _ in range(20)]
    return ids


async def drive(pipeline: Pipeline, done: Callable[[], bool], deliver: bool = True) -> None:
    """Steps until ``done``; the process then dies (nothing more is written)."""
    delivery = None
    try:
        await asyncio.to_thread(pipeline._recover)
        delivery = asyncio.create_task(pipeline._deliver()) if deliver else None
        for _ in range(300):
            await pipeline.step()
            await asyncio.sleep(0.02)
            if done():
                await pipeline.inserted()  # an insert that failed on its thread stops it
                return
        raise AssertionError(
            f"the pipeline never got there: {pipeline.sources} {pipeline.outputs.own.data} "
            f"{pipeline.outputs.outbox.data} {pipeline.writer.ingested}"
        )
    finally:
        if delivery is not None:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
        pipeline.close()  # only releases locks and files: like the process going away


def idle(pipeline: Pipeline) -> Callable[[], bool]:
    return lambda: not (pipeline.sources or pipeline.outputs.own or pipeline.outputs.outbox)


def crash_after(target: Any, name: str, *, before: bool = False) -> Callable[[], bool]:
    """Make ``target.name`` crash the process (before or after doing its work) once."""
    original = getattr(target, name)
    crashed = [False]

    def dying(*args: Any, **kwargs: Any) -> Any:
        if not crashed[0]:
            crashed[0] = True
            if before:
                raise CrashError(name)
            original(*args, **kwargs)
            raise CrashError(name)
        return original(*args, **kwargs)

    setattr(target, name, dying)
    return lambda: crashed[0]


def check(tmp: Path, client: Any, ids: list[str]) -> None:
    rows = client.query("SELECT event_id, type, topic, event_json FROM events").result_rows
    spool = Counter(str(r[0]) for r in rows if r[2].startswith("spool:"))
    assert spool == Counter(ids), "lost or repeated events"
    own = [(r[1], orjson.loads(r[3])["payload"]) for r in rows if not r[2].startswith("spool:")]
    kinds = Counter((kind, p.get("dedup_key") or p.get("alert_dedup_key")) for kind, p in own)
    assert kinds == Counter({("alert_raised", STORM): 1, ("halt", STORM): 1,
                             ("alert_delivered", STORM): 1})  # fmt: skip
    values, _ = ControlLog(tmp / "control.log").read()
    assert [event_type(decode(v)[1]) for v in values] == ["halt"]
    assert verify(client, Checkpoints(tmp / "checkpoints")).ok
    assert not list((tmp / "spool").iterdir()), "every consumed segment is deleted"


def restart(tmp: Path, client: Any) -> None:
    pipeline = Pipeline(settings(tmp), client)
    asyncio.run(drive(pipeline, idle(pipeline)))


def test_dying_after_the_alert_is_journalled_before_the_ledger_has_it(
    tmp_path: Path, chdb_ledger: Any
) -> None:
    ids = record_storm(tmp_path)
    pipeline = Pipeline(settings(tmp_path), chdb_ledger)
    died = crash_after(pipeline, "_write", before=True)
    with pytest.raises(CrashError):
        asyncio.run(drive(pipeline, died, deliver=False))
    assert chdb_ledger.query("SELECT count() FROM events").result_rows == [(0,)]
    restart(tmp_path, chdb_ledger)
    check(tmp_path, chdb_ledger, ids)


def test_dying_after_the_ledger_has_a_batch_before_the_journal_moves_on(
    tmp_path: Path, chdb_ledger: Any
) -> None:
    ids = record_storm(tmp_path)
    pipeline = Pipeline(settings(tmp_path), chdb_ledger)
    died = crash_after(pipeline, "_write")
    with pytest.raises(CrashError):
        asyncio.run(drive(pipeline, died))
    restart(tmp_path, chdb_ledger)
    check(tmp_path, chdb_ledger, ids)


def test_dying_after_the_halt_is_in_the_control_log(tmp_path: Path, chdb_ledger: Any) -> None:
    ids = record_storm(tmp_path)
    pipeline = Pipeline(settings(tmp_path), chdb_ledger)
    died = crash_after(pipeline.control_log, "append")
    with pytest.raises(CrashError):
        asyncio.run(drive(pipeline, died))
    restart(tmp_path, chdb_ledger)
    check(tmp_path, chdb_ledger, ids)


def test_dying_while_reading_then_twice_more_at_random_steps(
    tmp_path: Path, chdb_ledger: Any
) -> None:
    ids = record_storm(tmp_path)
    for limit in (1, 2, 3):  # dies after 1, 2, 3 steps of a pipeline reading 4 events a step
        cfg = settings(tmp_path)
        cfg.ledger.batch_max_events = 4
        pipeline = Pipeline(cfg, chdb_ledger)
        asyncio.run(drive(pipeline, counter(pipeline, limit)))
    restart(tmp_path, chdb_ledger)
    check(tmp_path, chdb_ledger, ids)


def counter(pipeline: Pipeline, limit: int) -> Callable[[], bool]:
    """True once ``pipeline`` made ``limit`` steps."""
    steps, original = [0], pipeline.step

    async def counted(final: bool = False) -> bool:
        steps[0] += 1
        return await original(final)

    pipeline.step = counted  # type: ignore[method-assign]
    return lambda: steps[0] >= limit


def test_a_directory_that_is_no_recorders_is_left_alone(tmp_path: Path, chdb_ledger: Any) -> None:
    ids = record_storm(tmp_path)
    (tmp_path / "spool" / "notes").mkdir()
    restart(tmp_path, chdb_ledger)
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["notes"]
    assert not list((tmp_path / "spool" / "notes").iterdir())
    rows = chdb_ledger.query("SELECT count() FROM events WHERE startsWith(topic, 'spool:')")
    assert rows.result_rows == [(len(ids),)]
