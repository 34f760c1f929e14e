"""SDK emit cost and throughput to a real broker, beside raw fastavro + KafkaProducer.send.

    python bench/producer.py [--events 50000] [--rounds 3]

Baseline: the same event records, encoded with fastavro (single-object encoding) and sent
with a KafkaProducer configured like the SDK's (acks=all, idempotent, same batching), in
one thread, then flushed. SDK: ``Recorder`` calls from the agent thread; the clock stops
when Kafka acknowledged every event. Rounds alternate and the best of each is kept.
Caller cost is each record call's wall time on the agent thread, flat out and at a steady
2,000 events/s. Targets (issue 2): p99 caller cost <= 50 us; throughput >= 90% of baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from bench._broker import bootstrap
from handrail.producers import Check, Recorder
from handrail.producers.transport import kafka_producer_factory
from handrail.schemas import AVRO_NAMES, encode
from handrail.settings import (
    AgentIdentity,
    KafkaSettings,
    ProducerSettings,
    Settings,
    SpoolSettings,
)

CHECKS = [Check(name="has_customer_id", passed=True), Check(name="pii_free", passed=False)]


def new_topic(servers: str) -> str:
    name = f"bench.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    admin.close()
    return name


def records(n: int) -> list[dict[str, object]]:
    payload = {
        "type": "decision_made",
        "action": "db.customers.write",
        "rationale": "checks passed",
        "resource": "db.customers",
        "inputs": [],
        "alternatives": [],
        "checks": [c.model_dump() for c in CHECKS],
    }
    agent = {"name": "bench", "version": "1", "owner": "team"}
    return [
        {
            "event_id": str(uuid.uuid4()),
            "time": datetime.now(UTC),
            "workflow_id": f"wf-{i % 64}",
            "causation_id": None,
            "agent": agent,
            "session_id": "s",
            "sequence": i + 1,
            "labels": {},
            "payload": (AVRO_NAMES["decision_made"], payload),
        }
        for i in range(n)
    ]


def baseline(servers: str, n: int) -> float:
    """Events/s of raw fastavro encode + KafkaProducer.send, flushed."""
    topic = new_topic(servers)
    build = kafka_producer_factory(KafkaSettings(bootstrap_servers=servers), ProducerSettings())
    producer: KafkaProducer = build()
    rows = records(n)
    producer.send(topic, value=encode(rows[0]), key=b"warm").get(30)
    start = time.perf_counter()
    for row in rows:
        producer.send(topic, value=encode(row), key=str(row["workflow_id"]).encode())
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return n / elapsed


def sdk(servers: str, n: int, rate: float | None = None) -> tuple[float, list[int]]:
    """Events/s through the Recorder until Kafka acknowledged all; per-call costs in ns."""
    topic = new_topic(servers)
    with tempfile.TemporaryDirectory() as spool:
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=servers, events_topic=topic),
            spool=SpoolSettings(dir=Path(spool)),
        )
        rec = Recorder(settings, AgentIdentity(name="bench", owner="team"))
        rec.heartbeat()
        rec.flush(30)
        while rec.stats().delivered < 1:
            time.sleep(0.01)
        costs = [0] * n
        clock = time.perf_counter_ns
        start = time.perf_counter()
        for i in range(n):
            with rec.workflow(f"wf-{i % 64}"):
                t0 = clock()
                rec.decision(
                    "db.customers.write", "checks passed", resource="db.customers", checks=CHECKS
                )
                costs[i] = clock() - t0
            if rate is not None:
                pause = start + (i + 1) / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
        assert rec.close(120), "not everything was delivered"
        elapsed = time.perf_counter() - start
        stats = rec.stats()
        assert stats.delivered == n + 1, stats
        assert stats.spooled == 0, stats
    return n / elapsed, costs


def pct(values: list[int], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced", type=int, default=20_000, help="events in the 2,000/s run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with bootstrap() as servers:
        base_runs, sdk_runs, flat_costs = [], [], []
        for _ in range(args.rounds):
            base_runs.append(baseline(servers, args.events))
            rate, costs = sdk(servers, args.events)
            sdk_runs.append(rate)
            flat_costs = costs if rate == max(sdk_runs) else flat_costs
        _, paced_costs = sdk(servers, args.paced, rate=2000)
    figures = {
        "baseline_events_per_s": max(base_runs),
        "sdk_events_per_s": max(sdk_runs),
        "throughput_ratio": max(sdk_runs) / max(base_runs),
        "caller_flat_out_p50_us": pct(flat_costs, 0.50),
        "caller_flat_out_p99_us": pct(flat_costs, 0.99),
        "caller_2000_per_s_p50_us": pct(paced_costs, 0.50),
        "caller_2000_per_s_p99_us": pct(paced_costs, 0.99),
        "baseline_runs": base_runs,
        "sdk_runs": sdk_runs,
        "sdk_median_events_per_s": statistics.median(sdk_runs),
    }
    print(
        f"baseline (fastavro + KafkaProducer.send): {figures['baseline_events_per_s']:,.0f} events/s"
    )
    print(f"SDK (Recorder -> Kafka, acknowledged):     {figures['sdk_events_per_s']:,.0f} events/s")
    print(
        f"throughput ratio SDK/baseline:            {figures['throughput_ratio']:.1%}  (target >= 90%)"
    )
    print(
        f"caller cost flat out:  p50 {figures['caller_flat_out_p50_us']:.1f} us, "
        f"p99 {figures['caller_flat_out_p99_us']:.1f} us"
    )
    print(
        f"caller cost 2,000/s:   p50 {figures['caller_2000_per_s_p50_us']:.1f} us, "
        f"p99 {figures['caller_2000_per_s_p99_us']:.1f} us  (target p99 <= 50 us)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
