"""What one step of the embedded pipeline reads, and so what it holds and inserts at once,
is about ``ledger.batch_max_events`` in all, however many sessions the spool has; the
sessions take turns, so every one is read (real spool, real chdb)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from handrail.embedded.pipeline import Pipeline
from handrail.producers import Recorder
from handrail.producers.spool.source import Read
from handrail.settings import AgentIdentity, LedgerSettings, Settings, SpoolSettings

pytestmark = pytest.mark.timeout(300)
SESSIONS, EVENTS, BLOCK, LIMIT = 6, 300, 10, 100


def settings(tmp: Path) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        ledger=LedgerSettings(
            dsn=f"chdb://{tmp / 'ledger'}", checkpoint_dir=tmp / "checkpoints",
            batch_max_events=LIMIT, batch_max_seconds=0.05,
        ),
    )  # fmt: skip


def test_a_step_reads_about_batch_max_events_whatever_the_sessions(
    tmp_path: Path, chdb_ledger: Any
) -> None:
    for n in range(SESSIONS):
        with Recorder(settings(tmp_path), AgentIdentity(name=f"agent-{n}", owner="o")) as rec:
            for _block in range(EVENTS // BLOCK):
                for _ in range(BLOCK):
                    rec.heartbeat(interval_s=600)
                rec.flush()  # blocks of at most BLOCK events
    pipeline = Pipeline(settings(tmp_path), chdb_ledger)
    read_per_step: list[int] = []
    poll = pipeline._poll

    def counted() -> dict[str, Read]:
        reads = poll()
        read_per_step.append(sum(len(r.items) for r in reads.values()))
        return reads

    pipeline._poll = counted  # type: ignore[method-assign]

    async def drain() -> None:
        for _ in range(200):
            await pipeline.step()
            if pipeline.stats.events >= SESSIONS * EVENTS:
                break
        await pipeline.step(final=True)

    try:
        asyncio.run(drain())
    finally:
        pipeline.close()
    assert max(read_per_step) <= LIMIT + BLOCK  # whole blocks: one may pass the limit
    rows = chdb_ledger.query("SELECT agent, count() FROM events GROUP BY agent")
    assert sorted(rows.result_rows) == [(f"agent-{n}", EVENTS) for n in range(SESSIONS)]
