"""Ledger throughput and query latency, each beside a same-run baseline.

    python -m bench.ledger [--events 100000] [--rounds 3] [--synthetic 10000000]
                           [--runs 20] [--json FILE] [--quick]

Sink (real broker, embedded chdb ledger): ``--events`` SDK events (several agents'
``Recorder`` objects running workflows of decisions, verdicts, spend, executions,
failures, retries, approvals and handoffs) go into a fresh 3-partition topic. Each round
times ``Sink.run`` into a fresh ledger, from its start until its stats count every row
inserted (then it is stopped; no idle wait counted), and checks ``count()`` of the
ledger. Baseline: the same messages, read back and turned into the ledger's rows (decoded
in Python, ``to_row``, ``chain``: the rows the ledger holds) before the clock starts,
inserted with a bare ``client.insert`` in batches of the sink's batch size into a fresh
ledger. Beside it, not the target's baseline: the sink's own ingest inserts of the same
messages (Avro blocks that ClickHouse decodes into rows), built before the clock starts,
sent with a bare ``raw_insert``, as the sink's inserter does. Rounds alternate baseline,
ingest insert and sink; the best round of each is reported.
Target (issue 3): sink >= 50% of the baseline. Also printed: each of the sink's steps
timed alone on the same messages (Kafka poll, build, ``chain``, Avro blocks; decoding in
Python for comparison; and the two bare inserts), in us/event.

Queries: ``--synthetic`` rows (about one workflow per 100 rows, 50 agents, 30 days, so two
monthly partitions) generated inside ClickHouse by one ``INSERT ... SELECT FROM numbers``
(the rollup views fill as it runs). Median and p90 over ``--runs`` runs, after a warm-up:
the explain of one random workflow (``handrail.ledger.explain.explain`` over a
``ClientReader``, its dict dumped to JSON; beside it, the bare query of every column of the
workflow's rows in order) and the cost-per-agent rollup, beside the same figure computed
from the raw events table. Generation time, parts and disk sizes are printed too.
Targets: explain <= 200 ms median, rollup <= 1 s median.

``--events 0`` or ``--synthetic 0`` skips that part.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import threading
import time
from operator import itemgetter
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from bench._broker import bootstrap
from bench._cli import parse_args
from bench._ledger_data import TEAMS, agent_names, emit
from bench._ledger_queries import count, open_ledger, synthetic_figures
from bench._wait import wait_for_progress
from bench.producer import new_topic
from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.inserter import Insert
from handrail.ledger.rows import COLUMNS
from handrail.ledger.sink import Sink
from handrail.producers import Recorder
from handrail.settings import (
    AgentIdentity,
    KafkaSettings,
    LedgerSettings,
    ProducerSettings,
    Settings,
    SpoolSettings,
)

AGENTS = 6
"""Agents (one ``Recorder`` each) producing the sink's input."""

# -- the sink -----------------------------------------------------------------------------------


def produce(servers: str, topic: str, n: int, spool: Path) -> tuple[float, int]:
    """Record ``n`` events through AGENTS recorders; seconds until all were acknowledged,
    and how many went through the spool on the way (a slow broker under this load)."""
    names = agent_names()
    recorders = [
        Recorder(
            Settings(
                kafka=KafkaSettings(bootstrap_servers=servers, events_topic=topic),
                spool=SpoolSettings(dir=spool / str(i)),
                producer=ProducerSettings(
                    buffer_max_events=n + 1, max_block_ms=1000, send_timeout_s=60
                ),
            ),
            AgentIdentity(name=names[i * 7 % len(names)], version="1.4", owner=TEAMS[i]),
        )
        for i in range(AGENTS)
    ]
    start = time.perf_counter()
    emit(recorders, n)
    for rec in recorders:
        assert rec.close(300), "not everything was delivered"
    elapsed = time.perf_counter() - start
    delivered = sum(rec.stats().delivered for rec in recorders)
    spooled = sum(rec.stats().spooled for rec in recorders)
    assert delivered == n, (delivered, spooled)
    return elapsed, spooled


def read_back(servers: str, topic: str) -> tuple[list[Any], float]:
    """Every message of the topic, in (partition, offset) order; seconds spent polling."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    messages: list[Any] = []
    deadline = time.monotonic() + 300
    start = time.perf_counter()
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        assert time.monotonic() < deadline, "the topic could not be read back"
        for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
            messages.extend(batch)
    elapsed = time.perf_counter() - start
    consumer.close()
    return sorted(messages, key=lambda m: (m.partition, m.offset)), elapsed


def ledger_rows(
    messages: list[Any], topic: str, batch: int
) -> tuple[list[dict[str, Any]], list[Insert], dict[str, float]]:
    """The rows the ledger holds for these messages (built in Python, chained: the
    baseline inserts them), the sink's ingest inserts of them (``batch`` messages each),
    and the seconds each of the sink's steps took: build (``batches.build``: the ingest
    rows), chain, the Avro blocks; then, for comparison, decoding them in Python (the
    careful way). The garbage collector is paused, as the sink pauses it while it builds
    a batch."""
    gc.disable()
    clock = time.perf_counter
    by_partition: dict[int, list[Any]] = {}
    for m in messages:
        by_partition.setdefault(m.partition, []).append((m.offset, m.key, m.value))
    steps = dict.fromkeys(("build", "chain", "Avro blocks", "Python decode (careful)"), 0.0)
    inserts: list[Insert] = []
    careful: list[dict[str, Any]] = []
    for partition, part in sorted(by_partition.items()):
        head = GENESIS
        for i in range(0, len(part), batch):
            t0 = clock()
            items = build(topic, partition, part[i : i + batch])
            t1 = clock()
            rows = [row for _, row in items]
            head = chain(rows, head)
            t2 = clock()
            inserts.append(Insert.of("ingest", rows, f"{partition}:{i}"))
            t3 = clock()
            steps["build"] += t1 - t0
            steps["chain"] += t2 - t1
            steps["Avro blocks"] += t3 - t2
        t4 = clock()
        rows = [row for _, row in build(topic, partition, part, careful=True)]
        steps["Python decode (careful)"] += clock() - t4
        chain(rows, GENESIS)
        careful += rows
    gc.enable()
    return careful, inserts, steps


def baseline(path: Path, rows: list[dict[str, Any]], batch: int) -> float:
    """Events/s of bare ``client.insert`` of ready row lists, ``batch`` rows per insert
    (the issue's baseline)."""
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    lists = [list(map(itemgetter(*COLUMNS), chunk)) for chunk in chunks]
    client = open_ledger(path)
    try:
        start = time.perf_counter()
        for chunk in lists:
            client.insert("events", chunk, column_names=list(COLUMNS))
        elapsed = time.perf_counter() - start
        assert count(client) == len(rows)
    finally:
        client.close()
    return len(rows) / elapsed


def ingest(path: Path, inserts: list[Insert], n: int) -> float:
    """Events/s of bare ``raw_insert`` of the sink's ready ingest inserts (ClickHouse
    decodes the events and builds the rows)."""
    client = open_ledger(path)
    try:
        start = time.perf_counter()
        for insert in inserts:
            client.raw_insert(
                insert.target, None, insert_block=insert.body, fmt=insert.fmt,
                settings=insert.settings,
            )  # fmt: skip
        elapsed = time.perf_counter() - start
        assert count(client) == n
    finally:
        client.close()
    return n / elapsed


def sink(servers: str, topic: str, path: Path, n: int, group: str) -> tuple[float, float]:
    """Events/s of ``Sink.run`` from its start until n rows are in; seconds to the first."""
    client = open_ledger(path)
    try:
        settings = LedgerSettings(
            dsn=f"chdb://{path}", checkpoint_dir=path.parent / f"{path.name}-checkpoints",
            consumer_group=group,
        )  # fmt: skip
        runner = Sink(
            client, KafkaSettings(bootstrap_servers=servers, events_topic=topic), settings
        )
        stop = threading.Event()
        thread = threading.Thread(
            target=runner.run, kwargs={"stop": stop, "idle_exit_s": 2}, daemon=True
        )
        start = time.perf_counter()
        first = None

        def rows() -> int:
            nonlocal first
            got = runner.stats.rows
            if first is None and got:
                first = time.perf_counter() - start
            return got

        thread.start()
        try:
            wait_for_progress("the sink inserting the topic's rows", rows,
                              lambda got: got >= n or not thread.is_alive(), poll=0.01)  # fmt: skip
            elapsed = time.perf_counter() - start
        finally:
            stop.set()
            thread.join(60)
        assert runner.stats.rows == n, runner.stats
        assert (count(client), count(client, "quarantine")) == (n, 0)
    finally:
        client.close()
    return n / elapsed, first or elapsed


def sink_figures(servers: str, n: int, rounds: int, tmp: Path) -> dict[str, Any]:
    topic = new_topic(servers)
    produced, spooled = produce(servers, topic, n, tmp / "spool")
    messages, polled = read_back(servers, topic)
    print(
        f"produced {n:,} SDK events from {AGENTS} agents in {produced:.1f} s ({spooled:,} of "
        f"them through the spool); the topic holds {len(messages):,} messages"
    )
    n = len(messages)  # at least once: a replayed spool may have repeated some
    batch = LedgerSettings().batch_max_events
    rows, blocks, steps = ledger_rows(messages, topic, batch)
    del messages
    # The rows the baselines insert stay alive through every round; frozen, the garbage
    # collector skips them, so the sink (a thread of this process) does not pay for them.
    gc.freeze()
    steps = {"Kafka poll": polled, **steps}
    bases: list[float] = []
    ingests: list[float] = []
    sinks: list[tuple[float, float]] = []
    for r in range(rounds):
        bases.append(baseline(tmp / f"base-{r}", rows, batch))
        ingests.append(ingest(tmp / f"ingest-{r}", blocks, n))
        sinks.append(sink(servers, topic, tmp / f"sink-{r}", n, f"bench-{r}-{os.getpid()}"))
        print(
            f"  round {r + 1}: baseline {bases[-1]:9,.0f} events/s | ingest insert "
            f"{ingests[-1]:9,.0f} events/s | sink {sinks[-1][0]:9,.0f} "
            f"events/s (first rows after {sinks[-1][1]:.2f} s)"
        )
    base = max(bases)
    best, first = max(sinks)
    per_event = {k: v / n * 1e6 for k, v in steps.items()}
    per_event["baseline insert"] = 1e6 / base
    per_event["ingest insert"] = 1e6 / max(ingests)
    python = sum(per_event[k] for k in ("Kafka poll", "build", "chain", "Avro blocks"))
    print(
        "the steps, timed one by one on the same messages (us/event): "
        + ", ".join(f"{k} {v:.1f}" for k, v in per_event.items())
        + f"; the sink's Python steps (poll, build, chain, blocks) sum to {python:.1f}, "
        f"its insert thread's (ingest insert) {per_event['ingest insert']:.1f}"
    )
    gc.unfreeze()
    return {
        "events": n,
        "produced_via_spool": spooled,
        "batch_max_events": batch,
        "baseline_insert_events_per_s": base,
        "ingest_insert_events_per_s": max(ingests),
        "sink_events_per_s": best,
        "sink_ratio": best / base,
        "sink_first_rows_s": first,
        "sink_step_us_per_event": per_event,
    }


# -- queries on a synthetic ledger ------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="SDK events through the sink")
    parser.add_argument("--rounds", type=int, default=3, help="sink and baseline rounds")
    parser.add_argument("--synthetic", type=int, default=10_000_000, help="rows for the queries")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each query")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parse_args(parser, events=2000, rounds=1, synthetic=20_000, runs=3)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handrail-bench-ledger-") as tmp:
        if args.events:
            with bootstrap() as servers:
                figures.update(sink_figures(servers, args.events, args.rounds, Path(tmp)))
            print(
                f"baseline, bare client.insert of ready rows ({figures['batch_max_events']:,} a "
                f"batch): {figures['baseline_insert_events_per_s']:9,.0f} events/s"
            )
            print(
                f"bare raw_insert of the sink's ingest inserts (ClickHouse decodes): "
                f"{figures['ingest_insert_events_per_s']:9,.0f} events/s"
            )
            print(
                f"sink, Kafka -> rows -> chain -> insert (ClickHouse decodes): "
                f"{figures['sink_events_per_s']:9,.0f} events/s  {figures['sink_ratio']:.1%} of "
                f"baseline  (target >= 50%)"
            )
        if args.synthetic:
            figures.update(synthetic_figures(args.synthetic, args.runs, Path(tmp)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
