"""What the SDK's value rules (``producers/validation.py``, issue 23) cost a record call:
``Recorder.decision``, ``policy_verdict`` and ``spend`` with plain arguments (the exact-type
fast path), timed one call at a time, with the rules compiled into the fast path and with
them compiled out (the check as it was before: types only), in alternating fresh
recorders of the same process. No Kafka: the SDK writes to its spool.

    python -m bench.validation [--calls 20000] [--rounds 3] [--json FILE] [--quick]

Figures: per call type, the median over the rounds of each round's p50 and p99 (ns
resolution; this 2-vCPU VM is shared, so compare the two columns of one run only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from bench._cli import parse_args
from handrail.producers import Recorder, exact_fields
from handrail.producers.checks import EventChecks
from handrail.producers.exact_fields import exact
from handrail.settings import AgentIdentity, Settings, SpoolSettings

BURST = 1_000
CHECKS = [{"name": "schema", "passed": True, "detail": None}]
CALLS: dict[str, Callable[[Recorder], object]] = {
    "decision": lambda r: r.decision(
        "db.customers.write", "the ticket asked for it and every check passed",
        resource="db.customers", checks=CHECKS,
    ),
    "policy_verdict": lambda r: r.policy_verdict(
        "api.charge", "allow", "r1", "within the cap", cost_usd=1.5, attempt=0
    ),
    "spend": lambda r: r.spend(0.02, "openai", "gpt-4o", input_tokens=100, output_tokens=20),
}  # fmt: skip


def _no_rule(*args: object, **kwargs: object) -> str:
    return "False"


@contextmanager
def rules(on: bool) -> Iterator[None]:
    """The fast path with the value rules, or compiled without them (types only)."""
    exact.cache_clear()
    if on:
        yield
    else:
        with mock.patch.object(exact_fields, "_rule", _no_rule):
            yield
    exact.cache_clear()


def timings(rec: Recorder, call: Callable[[Recorder], object], n: int) -> list[int]:
    out = []
    for i in range(n):
        start = time.perf_counter_ns()
        call(rec)
        out.append(time.perf_counter_ns() - start)
        if i % BURST == BURST - 1:
            rec.flush(30)  # untimed: the shipper catches up (see bench.authorize)
    return sorted(out)


def pct(ns: list[int], q: float) -> float:
    return ns[min(len(ns) - 1, int(len(ns) * q))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parse_args(parser, calls=2000, rounds=1)
    results: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for on in (False, True):
            with rules(on), tempfile.TemporaryDirectory() as tmp:
                settings = Settings(spool=SpoolSettings(dir=Path(tmp) / "s",
                                                        control_log=Path(tmp) / "c"))  # fmt: skip
                with Recorder(settings, AgentIdentity(name="bench")) as rec:
                    rec._checks = EventChecks(rec._checks.limits)  # compiled under ``rules``
                    for name, call in CALLS.items():
                        ns = timings(rec, call, args.calls)
                        results.setdefault((name, on), []).append((pct(ns, 0.5), pct(ns, 0.99)))
    print(f"{args.calls:,} calls each, {args.rounds} rounds; caller cost in us (p50 / p99)")
    figures: dict[str, Any] = {"calls": args.calls, "rounds": args.rounds}
    for name in CALLS:
        row: list[Any] = [f"{name:15s}"]
        for on in (False, True):
            runs = results[(name, on)]
            p50 = statistics.median(r[0] for r in runs)
            p99 = statistics.median(r[1] for r in runs)
            row.append(f"{'rules' if on else 'types only'}: {p50:5.2f} / {p99:5.2f}")
            figures[f"{name}/{'rules' if on else 'types_only'}"] = {"p50_us": p50, "p99_us": p99}
        print("  ".join(row))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
