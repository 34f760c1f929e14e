"""``verify`` in bounded memory, and what the forensic reader's checks cost a query.

    python -m bench.verify [--rows 200000] [--rounds 3] [--json FILE] [--quick]

Two embedded ledgers of one chain each (the worst case: one partition), ``--rows`` / 4 and
``--rows`` event rows, written as the embedded pipeline writes them (chained, checkpointed,
ClickHouse decoding the messages). ``handrail ledger verify`` runs in a process of its own
on each; its peak RSS (``ru_maxrss``) and time are set beside the same-run baseline: a
process that only loads the large chain's rows whole (the columns verify reads, one query),
as verify did before it read in pages. Bounded memory shows as the large ledger's peak
beside the small one's. Then the reader's cost: a query of one workflow's rows through
``ClientReader`` (format, parse, judge, run) beside the same query on a bare client,
median of ``--runs`` each. Figures are the median over ``--rounds``.

Issue 22 states no number: figures beside their baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._cli import parse_args
from handrail.embedded.ledger_rows import own_rows
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.ledger.reader import ClientReader
from handrail.ledger.rows import COLUMNS
from handrail.ledger.writer import LedgerWriter
from handrail.schemas import encode
from handrail.settings import ReadSettings
from tests.support.samples import SAMPLE_FIELDS, event_record

TOPIC = "bench.verify"
BATCH = 5_000
PEAK = """
import atexit, sys
def _peak():  # VmHWM: this process's own peak (ru_maxrss would count the parent's too)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_KIB", line.split()[1], file=sys.stderr)
atexit.register(_peak)
"""
"""Prepended to a child's code: it reports its own peak resident memory at exit."""
VERIFY = (
    PEAK
    + """
import runpy
sys.argv = ["handrail", "ledger", "verify"]
runpy.run_module("handrail", run_name="__main__")
"""
)
LOAD_WHOLE = (
    PEAK
    + f"""
from handrail.ledger.client import connect
client = connect(sys.argv[1])
rows = client.query("SELECT {", ".join(COLUMNS)} FROM events ORDER BY offset").result_rows
print(len(rows))
"""
)
WORKFLOW_SQL = "SELECT * FROM events WHERE workflow_id = {w:String} ORDER BY time"


def build(path: Path, rows: int) -> None:
    """``rows`` events of every type in turn, in one chain, as the pipeline writes them."""
    kinds = list(SAMPLE_FIELDS)
    client = connect(f"chdb://{path / 'ledger'}")
    migrate(client)
    writer = LedgerWriter(client, Checkpoints(path / "checkpoints"))
    try:
        writer.resume((TOPIC, 0))
        for start in range(0, rows, BATCH):
            messages = []
            for offset in range(start, min(rows, start + BATCH)):
                record = event_record(kinds[offset % len(kinds)], sequence=offset + 1)
                record["workflow_id"] = f"wf-{offset // 20}"
                messages.append((offset, b"k", encode(record)))
            writer.write({(TOPIC, 0): own_rows(TOPIC, messages)})
    finally:
        writer.close()
        client.close()


def child(code: str, argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, output) of ``python -c code argv``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_KIB")]
    if done.returncode != 0 or not peaks:
        raise RuntimeError(f"exit {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return seconds, int(peaks[-1]) / 1024, done.stdout


def verify_in_child(path: Path) -> tuple[float, float]:
    env = {**os.environ, "HANDRAIL_LEDGER__DSN": f"chdb://{path / 'ledger'}"}
    seconds, mib, out = child(VERIFY, [], env)
    assert "0 findings" in out, out
    return seconds, mib


def reader_costs(path: Path, runs: int) -> tuple[float, float]:
    """Median ms of the workflow query through ``ClientReader`` and on a bare client."""
    dsn = f"chdb://{path / 'ledger'}"
    reader, bare = ClientReader(dsn, ReadSettings()), connect(dsn)
    try:
        times: dict[str, list[float]] = {"reader": [], "bare": []}
        for n in range(runs):
            params = {"w": f"wf-{n * 7}"}
            started = time.perf_counter()
            reader.query(WORKFLOW_SQL, params)
            times["reader"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rows = bare.query(WORKFLOW_SQL, parameters=params).result_rows
            times["bare"].append((time.perf_counter() - started) * 1000)
            assert rows, params
    finally:
        reader.close()
        bare.close()
    return statistics.median(times["reader"]), statistics.median(times["bare"])


def round_figures(rows: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        small, large = Path(tmp) / "small", Path(tmp) / "large"
        build(small, rows // 4)
        build(large, rows)
        small_s, small_mib = verify_in_child(small)
        large_s, large_mib = verify_in_child(large)
        whole_s, whole_mib, _ = child(LOAD_WHOLE, [f"chdb://{large / 'ledger'}"], dict(os.environ))
        reader_ms, bare_ms = reader_costs(large, runs)
    return {
        "small_verify_s": small_s, "small_verify_peak_mib": small_mib,
        "verify_s": large_s, "verify_peak_mib": large_mib,
        "whole_load_s": whole_s, "whole_load_peak_mib": whole_mib,
        "reader_query_median_ms": reader_ms, "bare_query_median_ms": bare_ms,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parse_args(parser, rows=8000, rounds=1, runs=5)
    rounds = [round_figures(args.rows, args.runs) for _ in range(args.rounds)]
    figures: dict[str, Any] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    figures |= {"rows": args.rows, "small_rows": args.rows // 4, "rounds": args.rounds}
    for key, value in figures.items():
        print(f"{key:>26}: {value:,.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
