"""Performance report: run every benchmark and write ``bench/REPORT.md`` with each figure,
its same-run baseline, the ratio, the target and whether it was met, and the machine.

    python -m bench.report                 # every benchmark at full size (long: tens of minutes)
    python -m bench.report --quick         # every bench's --quick smoke run; into a temp dir
    python -m bench.report --from-results  # no runs: rebuild REPORT.md from bench/results/

Each benchmark runs as a subprocess with ``--json bench/results/<name>.json`` (its old
file is removed first, so a failed run leaves a gap, never a stale figure), all on one
broker: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else one started for the report. The machine
is recorded in ``bench/results/machine.json`` beside the figures, so ``--from-results``
describes the machine the figures came from. Each run has a deadline (``DEADLINE_S``): a
run past it is stopped with its workers and counts as failed. ``--quick`` runs every
benchmark (``SMOKE_ONLY`` too) at its own ``--quick`` sizes, a few at once, so that CI
finds a broken one (``tests/integration/test_bench_quick.py``); it exits non-zero if any
failed. The targets are the ``TARGETS`` table below, taken from each benchmark's
docstring; the report builder (``build_report``) is a pure function of the results and
fails, naming the file and key, if a figure is missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import operator
import os
import platform
import re
import string
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _run as bench_runs
from bench._run import Run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "bench" / "REPORT.md"
PROSE = "<!-- Hand-written from here on: python -m bench.report keeps it. -->"
"""Where a report's hand-written part (how to reproduce, where the time goes) begins."""
POM = ROOT / "scripts" / "kafka" / "pom.xml"
DASH = "\N{EN DASH}"
PACKAGES = ("kafka-python", "crc32c", "faust-streaming", "fastavro", "chdb", "clickhouse-connect")


@dataclass(frozen=True)
class Bench:
    """One benchmark run: ``python -m bench.<module> <args> --json <results>/<name>.json``;
    ``--quick`` adds the benchmark's own ``--quick`` (tiny sizes, ``bench/_cli.py``)."""

    name: str
    module: str
    args: tuple[str, ...] = ()


BENCHES = (
    Bench("authorize", "authorize"),
    Bench("producer", "producer"),
    Bench("ledger_sink", "ledger", ("--synthetic", "0")),
    Bench("ledger_queries", "ledger", ("--events", "0")),
    Bench("processors", "processors"),
    Bench("scaling", "scaling"),
    Bench("verify", "verify"),
    Bench("embedded", "embedded"),
)
SMOKE_ONLY = (Bench("validation", "validation"), Bench("install", "install"))
"""Run by ``--quick`` too, so that CI runs every benchmark; no figure of theirs is in the
report (no target there yet)."""
DEADLINE_S = 3600.0
"""A benchmark still running after this long (``QUICK_DEADLINE_S`` with ``--quick``) is
stopped, with every process it started, and counts as failed (``bench/_run.py``)."""
QUICK_DEADLINE_S = 240.0
QUICK_JOBS = 3
"""Benchmarks run at once by ``--quick``: most of a smoke run waits (workers starting,
groups forming), not computes."""
LONGEST = ("processors", "scaling")


OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    ">=": (operator.ge, "≥"),
    "<=": (operator.le, "≤"),
    "<": (operator.lt, "<"),
}


@dataclass(frozen=True)
class Target:
    """A figure of a benchmark's results. Keys are paths: ``a/b`` is ``r["a"]["b"]``,
    ``a/workers=2/b`` the ``b`` of the item of list ``a`` whose ``workers`` is 2.
    ``on`` says what the target bounds: the measured figure or measured / baseline;
    ``goal`` is None for a figure reported without a target. ``complete`` names
    (arrived, expected) counts: fewer arrivals than expected misses the target."""

    bench: str
    issue: int
    figure: str
    measured: str
    unit: str
    baseline: str | None = None
    baseline_label: str = ""
    on: str = "measured"
    goal: tuple[str, float] | None = None
    note: str = ""
    complete: tuple[str, str] | None = None


def _lat(workers: int) -> Target:
    at = f"latency/workers={workers}"
    return Target(
        "processors",
        4,
        f"produced → PagerDuty trigger, {workers} worker{'s' if workers > 1 else ''}: p99",
        f"{at}/p99_ms",
        "ms",
        "passthrough_latency/p99_ms",
        "bare Faust pass-through, produced → forwarded, p99",
        goal=("<", 1000),
        note=f"at {{{at}/rate_events_per_s:,.0f}} events/s; p50 {{{at}/p50_ms:,.0f}} ms; "
        f"{{{at}/arrived}} of {{{at}/expected}} storms paged",
        complete=(f"{at}/arrived", f"{at}/expected"),
    )


# fmt: off
TARGETS: tuple[Target, ...] = (
    Target("producer", 2, "encode one decision event: the SDK's compiled writer",
           "encode_compiled_us", "µs", "encode_fastavro_us", "fastavro `schemaless_writer`",
           note="byte for byte the same messages"),
    Target("producer", 2, "SDK, `shipper=process`, end to end: agent flat out until Kafka "
           "acknowledged all", "process/sdk_end_to_end_events_per_s", "events/s",
           "baseline_events_per_s", "fastavro encode + `KafkaProducer.send` in one thread",
           on="ratio", goal=(">=", 0.90)),
    Target("producer", 2, "SDK, `shipper=process`, caller cost per event, flat out: wall p99",
           "process/flat_out_wall_p99_us", "µs", goal=("<=", 50),
           note="p50 {process/flat_out_wall_p50_us:.1f} µs"),
    Target("producer", 2, "SDK, `shipper=process`, caller cost per event, flat out: CPU p99",
           "process/flat_out_cpu_p99_us", "µs", goal=("<=", 50),
           note="p50 {process/flat_out_cpu_p50_us:.1f} µs"),
    Target("producer", 2, "SDK, `shipper=thread` (the default), end to end",
           "thread/sdk_end_to_end_events_per_s", "events/s", "baseline_events_per_s",
           "fastavro encode + `KafkaProducer.send` in one thread", on="ratio",
           goal=(">=", 0.90)),
    Target("producer", 2, "SDK, `shipper=thread`, caller cost per event, flat out: wall p99",
           "thread/flat_out_wall_p99_us", "µs", goal=("<=", 50),
           note="p50 {thread/flat_out_wall_p50_us:.1f} µs"),
    Target("producer", 2, "SDK, `shipper=thread`, caller cost per event, flat out: CPU p99",
           "thread/flat_out_cpu_p99_us", "µs", goal=("<=", 50),
           note="p50 {thread/flat_out_cpu_p50_us:.1f} µs"),
    # At a steady rate every call meets cold caches: figures beside the baseline's own
    # per-event step and the machine's floor at that rate (bench/REPORT.md, the prose).
    Target("producer", 2, "SDK, `shipper=process`, caller cost per event at a steady 2,000/s: "
           "CPU p99", "process/paced_cpu_p99_us", "µs", "reference_encode_send_cpu_p99_us",
           "the baseline's encode + send on the caller at 2,000/s, CPU p99",
           note="p50 {process/paced_cpu_p50_us:.1f} µs, wall p99 "
           "{process/paced_wall_p99_us:.1f} µs; the machine's floor at 2,000/s (a dict built "
           "and packed, no SDK): p50 {floor_cpu_p50_us:.1f} µs, p99 {floor_cpu_p99_us:.1f} µs"),
    Target("producer", 2, "SDK, `shipper=thread`, caller cost per event at a steady 2,000/s: "
           "CPU p99", "thread/paced_cpu_p99_us", "µs", "reference_encode_send_cpu_p99_us",
           "the baseline's encode + send on the caller at 2,000/s, CPU p99",
           note="p50 {thread/paced_cpu_p50_us:.1f} µs"),
    Target("ledger_sink", 3, "sink: Kafka → rows → chain → insert (ClickHouse decodes)",
           "sink_events_per_s", "events/s", "baseline_insert_events_per_s",
           "bare `client.insert` of ready rows", on="ratio", goal=(">=", 0.50),
           note="{events:,} events; bare `raw_insert` of the sink's ingest inserts: "
           "{ingest_insert_events_per_s:,.0f} events/s"),
    Target("ledger_queries", 3, "`explain` of one workflow: median", "explain_median_ms", "ms",
           "workflow_query_median_ms", "the bare query of the workflow's rows, median",
           goal=("<=", 200),
           note="{synthetic_events:,} events; ~{explain_rows_per_workflow:.0f} per workflow"),
    Target("ledger_queries", 3, "cost per agent from the rollup: median", "rollup_median_ms",
           "ms", "rollup_raw_median_ms", "the same from raw events, median", goal=("<=", 1000),
           note="{synthetic_events:,} events"),
    Target("processors", 4, "backlog drained by one worker, every detector on",
           "processors_events_per_s", "events/s", "passthrough_events_per_s",
           "bare Faust pass-through agent", on="ratio", goal=(">=", 0.60),
           note="{backlog_events:,} events"),
    Target("processors", 25, "backlog drained by one worker, beside consume + decode: median",
           "processors_median_events_per_s", "events/s", "consume_decode_median_events_per_s",
           "bare aiokafka `getmany` + Avro decode of the same backlog, median", on="ratio",
           goal=(">=", 0.40), note="{backlog_events:,} events; median of the rounds"),
    _lat(1),
    _lat(2),
    Target("authorize", 5, "`Recorder.authorize` (decide + record the verdict), "
           "`shipper=thread` (the default): p99", "thread/authorize_p99_us", "µs",
           "thread/record_only_p99_us", "recording an event alone, p99", goal=("<", 20),
           note="{rules:,} rules, {calls:,} calls in bursts of 1,000; the median of "
                "{rounds} rounds; p50 {thread/authorize_p50_us:.1f} µs"),
    Target("authorize", 5, "`Recorder.authorize`, `shipper=process`: p99",
           "process/authorize_p99_us", "µs", "process/record_only_p99_us",
           "recording an event alone, p99", note="p50 {process/authorize_p50_us:.1f} µs"),
    Target("authorize", 5, "`Rights.decide` alone: p99", "decide_p99_us", "µs",
           note="{rules:,} rules; p50 {decide_p50_us:.1f} µs"),
    Target("scaling", 6, "backlog drained by two workers", "two_workers_events_per_s",
           "events/s", "one_worker_events_per_s", "the same backlog, one worker",
           note="{partitions} partitions; backlog {backlog_events:,} events, best of {rounds} "
                "round(s); events counted {one_worker_events_counted:,} (1 worker), "
                "{two_workers_events_counted:,} (2)"),
    Target("embedded", 25, "`handrail run` draining a spool backlog", "drain_events_per_s",
           "events/s", "slowest_stage_events_per_s", "its slowest stage alone, same backlog",
           on="ratio", goal=(">=", 0.50),
           note="{events:,.0f} events; read + decode {read_decode_events_per_s:,.0f}/s, "
                "detect {detect_events_per_s:,.0f}/s, rows {rows_events_per_s:,.0f}/s, chain + "
                "insert {chain_insert_events_per_s:,.0f}/s; median of {rounds} rounds"),
    Target("embedded", 25, "`handrail run` draining a spool backlog: peak RSS",
           "drain_peak_mib", "MiB", goal=("<", 477), note="target: under 500 MB"),
    Target("verify", 22, "`handrail ledger verify`, one chain: peak RSS", "verify_peak_mib",
           "MiB", "whole_load_peak_mib", "a process that only loads the same chain's rows whole",
           note="{rows:,} rows in {verify_s:.1f} s; {small_rows:,} rows: "
                "{small_verify_peak_mib:,.0f} MiB in {small_verify_s:.1f} s; median of {rounds}"),
    Target("verify", 22, "a workflow's rows through the forensic reader (format, parse, judge, "
           "run): median", "reader_query_median_ms", "ms", "bare_query_median_ms",
           "the same query on a bare client, median", note="{rows:,} rows in the ledger"),
)
# fmt: on
"""Every figure in the report, with the target of its issue (from each bench's docstring)."""


class MissingFigureError(KeyError):
    """A results file lacks a figure the report needs (the bench changed, or is old)."""

    def __str__(self) -> str:
        return str(self.args[0])


def pick(results: Mapping[str, Any], path: str, bench: str) -> Any:
    """The value at ``path`` (see ``Target``) of one bench's results."""
    value: Any = results
    for part in path.split("/"):
        field, _, wanted = part.partition("=")
        if wanted:
            items = value if isinstance(value, list) else []
            found = [x for x in items if isinstance(x, Mapping) and str(x.get(field)) == wanted]
            value = found[0] if found else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            raise MissingFigureError(
                f"bench/results/{bench}.json has no figure {path!r} "
                f"(rerun bench.{bench.split('_', maxsplit=1)[0]} or fix bench.report.TARGETS)"
            )
    return value


class _Fields(string.Formatter):
    def __init__(self, results: Mapping[str, Any], bench: str) -> None:
        self.results, self.bench = results, bench

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return pick(self.results, field_name, self.bench), field_name


@dataclass(frozen=True)
class Row:
    target: Target
    measured: float
    baseline: float | None
    ratio: float | None
    status: str
    note: str


def evaluate(target: Target, results: Mapping[str, Any]) -> Row:
    """One figure against its target; ``results`` is its bench's results dict."""
    measured = float(pick(results, target.measured, target.bench))
    baseline = None
    if target.baseline is not None:
        baseline = float(pick(results, target.baseline, target.bench))
    ratio = measured / baseline if baseline else None
    status = DASH
    if target.goal is not None:
        op, limit = target.goal
        value = ratio if target.on == "ratio" else measured
        if value is None:
            raise ValueError(f"{target.figure}: a ratio target needs a non-zero baseline")
        status = "met" if OPS[op][0](value, limit) else "missed"
    if target.complete is not None:
        arrived, expected = (int(pick(results, k, target.bench)) for k in target.complete)
        if arrived < expected:
            status = f"missed ({arrived} of {expected} arrived)"
    note = _Fields(results, target.bench).format(target.note)
    return Row(target, measured, baseline, ratio, status, note)


def _num(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return f"{text} {unit}"


def goal_text(target: Target) -> str:
    if target.goal is None:
        return DASH
    op, limit = target.goal
    if target.on == "ratio":
        return f"{OPS[op][1]} {limit:.0%} of baseline"
    return f"{OPS[op][1]} {limit:,g} {target.unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def build_report(
    results: Mapping[str, Mapping[str, Any] | None],
    machine: Mapping[str, str],
    *,
    title_note: str = "",
    sources: Mapping[str, str] | None = None,
) -> str:
    """REPORT.md from each bench's results (None or absent: not run). ``sources`` says,
    per bench, where its figures came from (command, file date). Raises ``MissingFigureError``
    if a bench's results lack a figure of ``TARGETS``."""
    sources = sources or {}
    rows: dict[str, list[Row]] = {}
    for target in TARGETS:
        found = results.get(target.bench)
        if found is not None:
            rows.setdefault(target.bench, []).append(evaluate(target, found))
    goals = [r for rs in rows.values() for r in rs if r.target.goal is not None]
    met = [r for r in goals if r.status == "met"]
    not_run = [b for b in dict.fromkeys(t.bench for t in TARGETS) if results.get(b) is None]
    lines = ["# Performance report", ""]
    if title_note:
        lines += [title_note, ""]
    lines += [
        "Every figure beside its same-run baseline; ratio = measured / baseline. Targets",
        "from issues 2\N{EN DASH}5 and 25 as stated in each benchmark's docstring (`bench/*.py`);",
        "the scaling figure (issue 6) and verify's (22) have none. Rebuild:",
        "`python -m bench.report` (runs everything) or",
        "`python -m bench.report --from-results` (from `bench/results/*.json`).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_cell(v)} |" for k, v in machine.items()),
        "",
        "## Summary",
        "",
        f"{len(met)} of {len(goals)} measured targets met"
        + (f"; not run: {', '.join(not_run)}." if not_run else "."),
        "",
        "| issue | figure | target | measured | status |",
        "|---|---|---|---|---|",
    ]
    for target in TARGETS:
        if target.goal is None:
            continue
        row = next((r for r in rows.get(target.bench, []) if r.target is target), None)
        measured = _num(row.measured, target.unit) if row else "not run"
        if row and target.on == "ratio" and row.ratio is not None:
            measured += f" ({row.ratio:.0%})"
        status = row.status if row else "not run"
        lines.append(
            f"| {target.issue} | {target.figure} | {goal_text(target)} | {measured} "
            f"| {'**' + status + '**' if status != 'met' else status} |"
        )
    for bench in dict.fromkeys(t.bench for t in TARGETS):
        lines += ["", f"## {bench}", ""]
        if bench in sources:
            lines += [sources[bench], ""]
        if bench not in rows:
            lines.append("Not run: no results.")
            continue
        lines += [
            "| figure | target | measured | same-run baseline | ratio | status | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows[bench]:
            t = r.target
            base = f"{_num(r.baseline, t.unit)} ({t.baseline_label})" if r.baseline else DASH
            ratio = f"{r.ratio:.0%}" if r.ratio is not None else DASH
            lines.append(
                f"| {t.figure} | {goal_text(t)} | {_num(r.measured, t.unit)} | "
                f"{_cell(base)} | {ratio} | {r.status} | {_cell(r.note)} |"
            )
    return "\n".join(lines) + "\n"


def prose(report: Path) -> str:
    """The hand-written part of an existing report, from ``PROSE`` on, to write back after
    the tables ("" when there is none)."""
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    return "\n" + text[text.index(PROSE) :] if PROSE in text else ""


# -- the machine ---------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def kafka_version() -> str:
    found = re.search(
        r"<artifactId>kafka_[\d.]+</artifactId>\s*<version>([^<]+)</version>", _read(str(POM))
    )
    return found.group(1) if found else "unknown"


def machine(servers: str | None = None) -> dict[str, str]:
    """The machine the benchmarks run on, as label -> text."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"), re.M)
    quota = _read("/sys/fs/cgroup/cpu.max").split()
    cores = f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process"
    if len(quota) == 2 and quota[0] != "max":
        cores += f", cgroup quota {int(quota[0]) / int(quota[1]):.1f} CPUs"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} absent")
    broker = f"Kafka {kafka_version()} (scripts/kafka/pom.xml)"
    if servers:
        broker += f", external broker at {servers} (KAFKA_BOOTSTRAP_SERVERS)"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": cpu.group(1).strip() if cpu else platform.processor() or "unknown",
        "cores": cores,
        "RAM": f"{int(mem.group(1)) / 2**20:.1f} GiB" if mem else "unknown",
        "OS": f"{os_name.group(1) if os_name else platform.system()} ({platform.platform()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "broker": broker + "; it runs on the same machine",
        "packages": ", ".join(versions),
        "load average at start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- running -------------------------------------------------------------------------------


@contextmanager
def _broker() -> Iterator[str]:
    from bench._broker import bootstrap

    with bootstrap() as servers:
        yield servers


def run_all(results_dir: Path, quick: bool) -> tuple[dict[str, str], list[str]]:
    """Run every bench into ``results_dir``; return each one's source line and failures."""
    results_dir.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    (results_dir / "machine.json").write_text(json.dumps(machine(external), indent=2) + "\n")
    runs = []
    for bench in BENCHES + (SMOKE_ONLY if quick else ()):
        out = results_dir / f"{bench.name}.json"
        out.unlink(missing_ok=True)
        args = (*bench.args, "--quick") if quick else bench.args
        command = [sys.executable, "-m", f"bench.{bench.module}", *args, "--json", str(out)]
        shown = f"python -m bench.{bench.module} {' '.join((*args, '--json', out.name))}"
        runs.append(Run(bench.name, command, shown))
    if quick:  # the longest first, so that they overlap the rest
        runs.sort(key=lambda run: run.name not in LONGEST)
    with _broker() as servers:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": servers}
        outcomes = bench_runs.run_all(
            runs, env, QUICK_DEADLINE_S if quick else DEADLINE_S, ROOT, results_dir,
            jobs=QUICK_JOBS if quick else 1,
        )  # fmt: skip
    sources = {run.name: f"`{run.shown}`, {outcomes[run.name]}" for run in runs}
    failed = [
        run.name
        for run in runs
        if outcomes[run.name].code != 0 or not (results_dir / f"{run.name}.json").exists()
    ]
    return sources, failed


def load(results_dir: Path) -> tuple[dict[str, Mapping[str, Any] | None], dict[str, str]]:
    """Each bench's results file, if any, and where it came from."""
    results: dict[str, Mapping[str, Any] | None] = {}
    sources: dict[str, str] = {}
    for bench in BENCHES:
        path = results_dir / f"{bench.name}.json"
        if path.exists():
            results[bench.name] = json.loads(path.read_text())
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            sources[bench.name] = f"From `{shown}`, written {written:%Y-%m-%d %H:%M} UTC."
    return results, sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="tiny sizes, into a temp dir")
    mode.add_argument("--from-results", action="store_true", help="no runs; rebuild the report")
    parser.add_argument("--results", type=Path, help="results dir (default bench/results)")
    parser.add_argument("--out", type=Path, help="the report (default bench/REPORT.md)")
    args = parser.parse_args()
    quick_dir = None
    if args.quick and not (args.results and args.out):
        quick_dir = Path(tempfile.mkdtemp(prefix="handrail-bench-quick-"))
    results_dir = args.results or quick_dir or RESULTS
    out = args.out or (quick_dir / "REPORT.md" if quick_dir else REPORT)
    failed: list[str] = []
    ran: dict[str, str] = {}
    if not args.from_results:
        ran, failed = run_all(results_dir, args.quick)
    results, sources = load(results_dir)
    for name, line in ran.items():
        sources[name] = f"Ran {line}."
    described = results_dir / "machine.json"
    if described.exists():
        facts = json.loads(described.read_text())
        note = "Figures from one `python -m bench.report` run."
        if args.from_results:
            note = (
                "Rebuilt from `bench/results/`; the machine as the last `python -m "
                "bench.report` run recorded it. Each section gives its file's date."
            )
    else:
        facts = {
            **{k: v for k, v in machine(None).items() if k != "load average at start"},
            "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC (this rebuild; no machine.json)",
        }
        note = (
            "Rebuilt from results files of separate runs, described with the machine the "
            "report was rebuilt on. Each section gives its file's date."
        )
    if args.quick:
        note = "**Quick smoke run: tiny sizes, the figures mean nothing.**"
    out.write_text(build_report(results, facts, title_note=note, sources=sources) + prose(out))
    print(f"\nwrote {out}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
