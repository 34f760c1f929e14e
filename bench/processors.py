"""Processors: events/s through one worker with every detector on, beside a bare Faust
pass-through in the same run; latency from an event produced to its alert delivered.

    python -m bench.processors [--events 40000] [--rounds 2] [--rate 2000] [--seconds 30]
                               [--json FILE]

Throughput: a backlog of ``--events`` events of the normal four-agent workload, recorded
through the SDK, waits in a topic. A worker process starts on it; the clock runs from its
group's first commit to the moment every event was processed (for handrail: routed, and
every keyed message before that moment judged by the detectors), and the events counted
are the ones committed after the first commit. Both workers commit every 0.2 s. Baseline:
``bench._passthrough``, a bare Faust agent forwarding each message to another topic.
Rounds alternate baseline and handrail; the best round of each is reported.

Latency: a worker runs with default rules and a real HTTP receiver as its PagerDuty
channel, while the SDK records the normal workload at a steady ``--rate`` events/s; four
times a second one more agent retries one operation past its budget (6 retries, limit 5).
Latency is from the SDK call that records the 6th retry to the receiver getting the
PagerDuty trigger for it.

Targets (issue 4): throughput >= 60% of the pass-through; latency p99 < 1 s at 2,000/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from bench._broker import bootstrap
from handrail.producers import Recorder
from handrail.producers.spool import read_all
from handrail.schemas import encode
from handrail.settings import AgentIdentity, KafkaSettings, Settings, SpoolSettings
from tests.support import normal_workload
from tests.support.processors_worker import Worker, WorkerTopics, agent_recorder
from tests.support.receiver import Receiver

PARTITIONS = 3


@dataclass
class Drain:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def worker_env(topics: WorkerTopics, receiver_url: str, tmp: Path) -> dict[str, str]:
    env = topics.env(receiver_url, tmp / "spool")
    env["HANDRAIL_PROCESSORS__RULES"] = "{}"  # the defaults
    env["HANDRAIL_PROCESSORS__TICK_INTERVAL_S"] = "1"
    env["HANDRAIL_PROCESSORS__COMMIT_INTERVAL_S"] = "0.2"
    env["HANDRAIL_PROCESSORS__APP_ID"] = f"bench-{uuid.uuid4().hex[:8]}"
    return env


def record_backlog(topics: WorkerTopics, tmp: Path, events: int) -> int:
    recorders = {a: agent_recorder(topics, tmp, a) for a in normal_workload.AGENTS}
    i = 0
    while normal_workload.recorded(recorders) < events:
        i += 1
        normal_workload.workflow(recorders, i)
    for rec in recorders.values():
        rec.close(60)
    return normal_workload.recorded(recorders)


class Offsets:
    """The committed offsets of a worker's group against the ends of its topics."""

    def __init__(self, servers: str, group: str) -> None:
        self.group = group
        self.admin = KafkaAdminClient(bootstrap_servers=servers)
        self.consumer = KafkaConsumer(bootstrap_servers=servers)

    def committed(self, topic: str) -> int:
        offsets = self.admin.list_group_offsets(self.group).get(self.group, {})
        return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)

    def end(self, topic: str) -> int:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(self.consumer.end_offsets(tps).values())

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


def drain(servers: str, topics: WorkerTopics, tmp: Path, passthrough: bool) -> Drain:
    """Start a worker on the backlog; time it from its first commit until it is done."""
    env = worker_env(topics, "http://127.0.0.1:9", tmp)
    group = env["HANDRAIL_PROCESSORS__APP_ID"]
    command = None
    if passthrough:
        command = [sys.executable, "-m", "bench._passthrough"]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    offsets = Offsets(servers, group)
    total = offsets.end(topics.events)
    worker = Worker(env, tmp / f"{group}.log", command=command).start()
    try:
        first = 0
        while (first := offsets.committed(topics.events)) == 0:
            time.sleep(0.02)
        start = time.monotonic()
        while offsets.committed(topics.events) < total:
            time.sleep(0.02)
        if not passthrough:  # and the detectors judged what was routed before now
            keyed = f"{group}-keyed"
            routed = offsets.end(keyed)
            while offsets.committed(keyed) < routed:
                time.sleep(0.02)
        return Drain(total - first, time.monotonic() - start)
    finally:
        worker.stop()
        offsets.close()


def stage(
    tmp: Path, rate: float, seconds: float
) -> tuple[list[tuple[bytes, bytes]], dict[int, str]]:
    """The latency run's events, recorded through the SDK ahead of time (into a spool, no
    Kafka) so that replaying them costs the box little: ``rate * seconds`` events of the
    normal workload with four storms a second among them. Returns (key, value) messages
    in recording order and, by message index, the dedup key each storm's 6th retry pages."""
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=""),
                        spool=SpoolSettings(dir=tmp / "stage"))  # fmt: skip
    names = (*normal_workload.AGENTS, "stormer")
    recorders = {a: Recorder(settings, AgentIdentity(name=a, owner=f"team-{a}")) for a in names}
    stormer = recorders.pop("stormer")
    total, storms, i = rate * seconds, int(4 * seconds), 0
    while normal_workload.recorded(recorders) < total:
        i += 1
        normal_workload.workflow(recorders, i)
        if stormer.stats().accepted < 6 * storms * normal_workload.recorded(recorders) / total:
            with stormer.workflow():
                for attempt in range(1, 7):
                    stormer.retry("api.charge", f"op-{i}", attempt, "HTTP 503")
    for rec in (*recorders.values(), stormer):
        rec.close(30)
    records = sorted(read_all(tmp / "stage"), key=lambda r: r["time"])
    pages = {
        n: f"retry-storm:stormer:{r['payload'][1]['operation_id']}"
        for n, r in enumerate(records)
        if r["agent"]["name"] == "stormer" and r["payload"][1]["attempt"] == 6
    }
    return [(str(r["workflow_id"]).encode(), encode(r)) for r in records], pages


def latency(
    servers: str, tmp: Path, rate: float, seconds: float, workers: int
) -> dict[str, float]:
    messages, pages = stage(tmp, rate, seconds)
    topics = WorkerTopics(servers, PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    with Receiver() as receiver:
        env = worker_env(topics, receiver.url("").rstrip("/"), tmp)
        group = [Worker(env, tmp / f"lat-{n}.log").start() for n in range(workers)]
        time.sleep(5 * workers)  # partitions assigned, first ticks sent
        sent: dict[str, float] = {}
        try:
            begin = time.monotonic()
            for n, (key, value) in enumerate(messages):
                ahead = begin + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                if n in pages:
                    sent[pages[n]] = time.time()
                producer.send(topics.events, key=key, value=value)
            producer.flush()
            achieved = len(messages) / (time.monotonic() - begin)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(_triggers(receiver, sent)) < len(sent):
                time.sleep(0.2)
        finally:
            producer.close()
            for worker in group:
                worker.stop()
        delivered = _triggers(receiver, sent)
    ms = sorted((at - sent[key]) * 1000 for key, at in delivered.items())
    return {
        "workers": workers,
        "rate_events_per_s": achieved,
        "alerts_expected": len(sent),
        "alerts_delivered": len(ms),
        "latency_p50_ms": statistics.median(ms),
        "latency_p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "latency_max_ms": ms[-1],
    }


def _triggers(receiver: Receiver, sent: dict[str, float]) -> dict[str, float]:
    """When the receiver got the first PagerDuty trigger of each storm."""
    got: dict[str, float] = {}
    for r in receiver.requests("/pd"):
        key = r.json["dedup_key"]
        if r.json["event_action"] == "trigger" and key in sent:
            got.setdefault(key, r.time)
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with bootstrap() as servers, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        topics = WorkerTopics(servers, PARTITIONS)
        backlog = record_backlog(topics, tmp, args.events)
        print(f"backlog: {backlog:,} events of the normal workload")
        base: list[Drain] = []
        ours: list[Drain] = []
        for _ in range(args.rounds):
            base.append(drain(servers, topics, tmp, passthrough=True))
            ours.append(drain(servers, topics, tmp, passthrough=False))
            print(
                f"  round: pass-through {base[-1].rate:8,.0f}/s  handrail {ours[-1].rate:8,.0f}/s"
            )
        best_base = max(d.rate for d in base)
        best_ours = max(d.rate for d in ours)
        lat = latency(servers, tmp, args.rate, args.seconds)
    figures = {
        "backlog_events": backlog,
        "passthrough_events_per_s": best_base,
        "processors_events_per_s": best_ours,
        "throughput_ratio": best_ours / best_base,
        **lat,
    }
    print(f"bare Faust pass-through:          {best_base:9,.0f} events/s")
    print(f"handrail, every detector on:      {best_ours:9,.0f} events/s "
          f"({figures['throughput_ratio']:.0%} of the pass-through; target >= 60%)")  # fmt: skip
    print(f"at {lat['rate_events_per_s']:,.0f} events/s: {lat['alerts_delivered']:.0f} of "
          f"{lat['alerts_expected']:.0f} storms paged; produced -> delivered p50 "
          f"{lat['latency_p50_ms']:.0f} ms, p99 {lat['latency_p99_ms']:.0f} ms, max "
          f"{lat['latency_max_ms']:.0f} ms (target p99 < 1000 ms)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
