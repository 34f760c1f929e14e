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
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _run as bench_runs
from bench._run import Run
from bench._targets import DASH, TARGETS, Row, evaluate, goal_text, num

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "bench" / "REPORT.md"
PROSE = "<!-- Hand-written from here on: python -m bench.report keeps it. -->"
"""Where a report's hand-written part (how to reproduce, where the time goes) begins."""
POM = ROOT / "scripts" / "kafka" / "pom.xml"
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
    Bench("otlp", "otlp"),
    Bench("console", "console"),
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
        "Every figure beside its same-run baseline; ratio = measured / baseline. Targets from",
        "issues 2\N{EN DASH}5 and 25\N{EN DASH}27 as stated in each benchmark's docstring",
        "(`bench/*.py`); the scaling figure (issue 6) and verify's (22) have none. Rebuild:",
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
        measured = num(row.measured, target.unit) if row else "not run"
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
            base = f"{num(r.baseline, t.unit)} ({t.baseline_label})" if r.baseline else DASH
            ratio = f"{r.ratio:.0%}" if r.ratio is not None else DASH
            lines.append(
                f"| {t.figure} | {goal_text(t)} | {num(r.measured, t.unit)} | "
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
