"""`handrail run` (the embedded default) draining a spool backlog, beside each of its
stages alone over the same backlog in the same run (issue 25).

    python -m bench.embedded [--events 100000] [--rounds 3] [--json FILE] [--quick]

A backlog of ``--events`` events of the normal four-agent workload is recorded through the
SDK into a spool (no Kafka). Each round, on a fresh copy of it and a fresh chdb ledger:

* the drain: a child process runs the pipeline as ``handrail run`` does (migrations, then
  ``Pipeline.run``) from its start until every event is in the ledger; its peak RSS is
  the child's;
* the stages alone, each over the whole backlog: reading and decoding the spool (the
  pipeline's ``Source``); the detectors (``KeyedDetectors``, default rules); the ledger
  rows (``spool_rows``); chaining and inserting those rows (``LedgerWriter``, in a child
  process: one chdb path per process).

The slowest stage is the pipeline's limit. Figures are medians of the rounds.

Targets (issue 25): the drain >= 50% of its slowest stage; peak RSS < 500 MB for a
100,000-event backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._cli import parse_args
from handrail.config.thresholds import DetectorRules
from handrail.embedded.ledger_rows import PARTITION, spool_rows
from handrail.processors.keyed import KeyedDetectors
from handrail.producers import Recorder
from handrail.producers.spool.cursor import Item
from handrail.settings import AgentIdentity, LedgerSettings, Settings, SpoolSettings
from tests.support import normal_workload
from tests.support.spool_items import read_spool

DEADLINE_S = 600.0
"""A child (a drain, an insert) still running after this long fails the run."""
BATCH = 5_000


def settings(spool: Path, ledger: Path) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=spool, control_log=spool.parent / "control.log"),
        ledger=LedgerSettings(dsn=f"chdb://{ledger}", checkpoint_dir=ledger.parent / "cp"),
    )


def record_backlog(spool: Path, events: int) -> int:
    s = Settings(spool=SpoolSettings(dir=spool, control_log=spool.parent / "control.log"))
    recorders = {
        a: Recorder(s, AgentIdentity(name=a, owner="bench")) for a in normal_workload.AGENTS
    }
    recorded = normal_workload.run(recorders, events)
    for rec in recorders.values():
        rec.close(60)
    return recorded


def stages(spool: Path) -> tuple[dict[str, float], dict[str, list[Item]], int]:
    """Seconds of each in-process stage over the whole backlog; its items; its events."""
    timed: dict[str, float] = {}
    started = time.perf_counter()
    items = read_spool(spool)
    timed["read_decode"] = time.perf_counter() - started
    records = [i.record for batch in items.values() for i in batch if i.record is not None]
    detectors = KeyedDetectors(DetectorRules(), {})
    started = time.perf_counter()
    for n in range(0, len(records), BATCH):
        detectors.observe_events(records[n : n + BATCH], time.time())
        detectors.write()
    timed["detect"] = time.perf_counter() - started
    started = time.perf_counter()
    for topic, batch in items.items():
        for n in range(0, len(batch), BATCH):
            spool_rows(topic, batch[n : n + BATCH])
    timed["rows"] = time.perf_counter() - started
    return timed, items, len(records)


def _child(mode: str, spool: Path, ledger: Path, events: int) -> None:
    """In a child process: drain the spool with the pipeline, or insert its rows alone;
    print seconds and peak RSS (MiB) as JSON."""
    from handrail.ledger.checkpoints import Checkpoints
    from handrail.ledger.client import connect
    from handrail.ledger.migrate import migrate
    from handrail.ledger.writer import LedgerWriter

    client = connect(f"chdb://{ledger}")
    migrate(client)
    if mode == "insert":
        rows = {t: [spool_rows(t, b[n : n + BATCH]) for n in range(0, len(b), BATCH)]
                for t, b in read_spool(spool).items()}  # fmt: skip
        writer = LedgerWriter(client, Checkpoints(ledger.parent / "cp"))
        started = time.perf_counter()
        for topic, batches in rows.items():
            writer.resume((topic, PARTITION))
            for batch in batches:
                writer.write({(topic, PARTITION): batch})
        seconds = time.perf_counter() - started
    else:
        from handrail.embedded.pipeline import Pipeline

        pipeline = Pipeline(settings(spool, ledger), client)
        started = time.perf_counter()
        asyncio.run(_drain(pipeline, events))
        seconds = time.perf_counter() - started
        pipeline.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


async def _drain(pipeline: Any, events: int) -> None:
    stop = asyncio.Event()
    run = asyncio.create_task(pipeline.run(stop))
    while pipeline.stats.events < events and not run.done():
        await asyncio.sleep(0.01)
    stop.set()
    await run


def in_child(mode: str, spool: Path, ledger: Path, events: int) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.embedded", "--child", mode, str(spool),
               str(ledger), str(events)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_S,
                          check=False, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"bench.embedded {mode} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parse_args(parser, events=3_000, rounds=1)
    with tempfile.TemporaryDirectory(prefix="handrail-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        backlog = tmp / "backlog" / "spool"
        recorded = record_backlog(backlog, args.events)
        rounds: list[dict[str, float]] = []
        for n in range(args.rounds):
            here = tmp / f"round-{n}"
            for part in ("stages", "insert", "drain"):
                shutil.copytree(backlog, here / part / "spool")
            timed, _, events = stages(here / "stages" / "spool")
            insert = in_child("insert", here / "insert" / "spool", here / "insert" / "l", events)
            drain = in_child("drain", here / "drain" / "spool", here / "drain" / "l", events)
            rates = {k: events / v for k, v in timed.items()}
            rates["chain_insert"] = events / insert["seconds"]
            limit = min(rates, key=rates.__getitem__)
            rounds.append(
                {
                    **{f"{k}_events_per_s": v for k, v in rates.items()},
                    "drain_events_per_s": events / drain["seconds"],
                    "drain_peak_mib": drain["peak_mib"],
                    "slowest_stage_events_per_s": rates[limit],
                    "events": events,
                }
            )
            each = ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items())
            print(f"  round {n + 1}: drain {rounds[-1]['drain_events_per_s']:,.0f}/s (peak "
                  f"{drain['peak_mib']:,.0f} MiB); {each}; slowest: {limit}")  # fmt: skip
    figures: dict[str, Any] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    ratio = figures["drain_events_per_s"] / figures["slowest_stage_events_per_s"]
    figures |= {"recorded": recorded, "rounds": args.rounds, "drain_ratio": ratio}
    print(f"handrail run draining {figures['events']:,.0f} events: "
          f"{figures['drain_events_per_s']:,.0f} events/s, {figures['drain_ratio']:.0%} of its "
          f"slowest stage ({figures['slowest_stage_events_per_s']:,.0f}/s; target >= 50%); "
          f"peak RSS {figures['drain_peak_mib']:,.0f} MiB (target < 500 MB)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
