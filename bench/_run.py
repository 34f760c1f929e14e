"""Running benchmarks as subprocesses, each bounded by a deadline; for ``bench.report``.

A run past its deadline is stopped with every process it started (it runs in a session of
its own: SIGTERM to the group, then SIGKILL) and counts as failed. Runs go one at a time,
their output live, or (``jobs`` > 1, the quick smoke run, whose figures mean nothing
anyway) several at once, each one's output kept in a log and printed whole when it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Run:
    name: str
    command: list[str]
    shown: str
    """The command as the report shows it."""


@dataclass(frozen=True)
class Outcome:
    code: int | None
    """The exit code; None: stopped at its deadline."""
    seconds: float

    def __str__(self) -> str:
        spent = f"{self.seconds:.0f} s" if self.seconds < 120 else f"{self.seconds / 60:.1f} min"
        if self.code == 0:
            return spent
        return f"{spent}; **failed** " + (
            "(past its deadline)" if self.code is None else f"(exit {self.code})"
        )


def run_bounded(
    command: Sequence[str],
    env: Mapping[str, str],
    deadline_s: float,
    cwd: Path,
    output: IO[bytes] | None = None,
) -> int | None:
    """Run ``command`` in a session of its own; its exit code, or None when it outlived
    ``deadline_s`` and was stopped."""
    process = subprocess.Popen(
        command, env=env, cwd=cwd, start_new_session=True,
        stdout=output, stderr=subprocess.STDOUT if output else None,
    )  # fmt: skip
    try:
        return process.wait(deadline_s)
    except subprocess.TimeoutExpired:
        print(f"{command[2:4]}: past its deadline of {deadline_s:g} s, stopped", flush=True)
        _signal_group(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(20)
        return None
    finally:  # what is left of the group: workers it did not stop, or after a Ctrl-C
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)


def run_all(
    runs: Sequence[Run], env: Mapping[str, str], deadline_s: float, cwd: Path, logs: Path,
    *, jobs: int = 1,
) -> dict[str, Outcome]:  # fmt: skip
    """Run ``runs``, ``jobs`` at a time (logs in ``logs`` when more than one)."""

    def one(run: Run) -> Outcome:
        start = time.monotonic()
        if jobs == 1:
            print(f"\n=== {run.name}: {run.shown}", flush=True)
            code = run_bounded(run.command, env, deadline_s, cwd)
        else:
            with (logs / f"{run.name}.log").open("wb") as log:
                code = run_bounded(run.command, env, deadline_s, cwd, log)
        return Outcome(code, time.monotonic() - start)

    if jobs == 1:
        return {run.name: one(run) for run in runs}
    outcomes: dict[str, Outcome] = {}
    with ThreadPoolExecutor(jobs) as pool:
        started = {pool.submit(one, run): run for run in runs}
        for done in as_completed(started):
            run, outcome = started[done], done.result()
            outcomes[run.name] = outcome
            text = (logs / f"{run.name}.log").read_text(errors="replace")
            print(f"\n=== {run.name}: {run.shown} ({outcome})\n{text}", end="", flush=True)
    return {run.name: outcomes[run.name] for run in runs}
