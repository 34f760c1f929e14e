"""Scaling of the processors: the same backlog drained by one and by two workers (two
processes, one consumer group) on an events topic of several partitions.

    python -m bench.scaling [--events 40000] [--partitions 6] [--rounds 2]
                            [--stall-timeout 180] [--json FILE] [--quick]

The backlog and the measurement are ``bench.processors``' own: ``--events`` events of the
normal four-agent workload, recorded through the SDK into a fresh topic of
``--partitions`` partitions (the workers' internal topics get as many); each round starts
a fresh group on it, every detector on, committing every 0.2 s. The clock runs from the
group's first commit made with every worker a member of the stable group to the moment
every event was routed and every keyed message judged; the events counted are the ones
committed after the clock started. Two workers are started together, but one joins first
and reads alone until the other arrives; what it read before the group settled (and the
rebalance itself) is left out, while the state recovery that follows the rebalance is in.
Rounds alternate one and two workers; the best round of each is reported, and the ratio
two workers / one worker. The events counted are printed: a backlog too small leaves few
of them after the second worker joins (or none: the run fails), and the figure is noise.
A stage that makes no progress for ``--stall-timeout`` seconds (a worker stuck in its
changelog's recovery, say) fails the run, naming the stage, with each worker's last log
lines, instead of waiting for ever.

No target: this shows how far adding a worker helps on the machine it runs on. On a
2-core machine the broker, the benchmark's own polling and the workers share the two
cores, so a second worker process mostly competes for the same CPU; a ratio near 1 there
says nothing about a machine where each worker has cores of its own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench._broker import bootstrap
from bench._cli import parse_args
from bench._wait import STALL_TIMEOUT_S
from bench.processors import Drain, drain, record_backlog
from tests.support.processors_worker import WorkerTopics

WORKERS = (1, 2)


def figures(backlog: int, partitions: int, drains: dict[int, list[Drain]]) -> dict[str, Any]:
    """The best round of each worker count, and the ratio two workers / one."""
    one, two = (max(drains[n], key=lambda d: d.rate) for n in WORKERS)
    return {
        "backlog_events": backlog,
        "partitions": partitions,
        "rounds": len(drains[1]),
        "one_worker_events_per_s": one.rate,
        "two_workers_events_per_s": two.rate,
        "scaling_ratio": two.rate / one.rate,
        "one_worker_events_counted": one.events,
        "two_workers_events_counted": two.events,
        "drains": [
            {"workers": n, "events": d.events, "seconds": d.seconds, "events_per_s": d.rate}
            for n in WORKERS
            for d in drains[n]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stall-timeout", type=float, default=STALL_TIMEOUT_S)
    parser.add_argument("--json", type=Path)
    args = parse_args(parser, events=80_000, rounds=1)  # the 2nd worker must join in time
    drains: dict[int, list[Drain]] = {n: [] for n in WORKERS}
    with bootstrap() as servers, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        topics = WorkerTopics(servers, args.partitions)
        backlog = record_backlog(topics, tmp, args.events)
        print(f"backlog: {backlog:,} events of the normal workload, {args.partitions} partitions")
        for _ in range(args.rounds):
            for n in WORKERS:
                drains[n].append(
                    drain(servers, topics, tmp, passthrough=False, workers=n,
                          partitions=args.partitions, timeout=args.stall_timeout)
                )  # fmt: skip
            print("  round: " + "  ".join(
                f"{n} worker(s) {drains[n][-1].rate:8,.0f}/s ({drains[n][-1].events:,} events "
                f"counted)" for n in WORKERS
            ))  # fmt: skip
    f = figures(backlog, args.partitions, drains)
    print(f"1 worker:   {f['one_worker_events_per_s']:9,.0f} events/s")
    print(f"2 workers:  {f['two_workers_events_per_s']:9,.0f} events/s "
          f"({f['scaling_ratio']:.2f}x one worker)")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(f, indent=2) + "\n")


if __name__ == "__main__":
    main()
