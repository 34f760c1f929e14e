"""bench.report's runs: a benchmark past its deadline is stopped with the processes it
started and counts as failed; ``--quick`` sizes give way to explicit arguments."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

from bench._cli import parse_args
from bench._run import Run, run_all, run_bounded

HANGS = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is no longer running
        return stat.read().split(") ")[1][0] != "Z"


def test_a_run_past_its_deadline_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    start = time.monotonic()
    code = run_bounded([sys.executable, "-c", HANGS, str(pid_file)], os.environ, 2.0, tmp_path)
    assert code is None
    assert time.monotonic() - start < 30
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_runs_at_once_keep_each_output_and_outcome(tmp_path: Path) -> None:
    runs = [
        Run("ok", [sys.executable, "-c", "print('fine')"], "ok"),
        Run("broken", [sys.executable, "-c", "raise SystemExit(3)"], "broken"),
    ]
    outcomes = run_all(runs, os.environ, 60, tmp_path, tmp_path, jobs=2)
    assert [outcomes["ok"].code, outcomes["broken"].code] == [0, 3]
    assert "**failed** (exit 3)" in str(outcomes["broken"])
    assert (tmp_path / "ok.log").read_text() == "fine\n"


def test_quick_sizes_give_way_to_explicit_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    def parsed(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        parser.add_argument("--events", type=int, default=40_000)
        parser.add_argument("--rounds", type=int, default=3)
        monkeypatch.setattr(sys, "argv", ["bench", *argv])
        return parse_args(parser, events=2000, rounds=1)

    assert (parsed().events, parsed().rounds) == (40_000, 3)
    assert (parsed("--quick").events, parsed("--quick").rounds) == (2000, 1)
    assert parsed("--quick", "--events", "0").events == 0
