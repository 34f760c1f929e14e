"""Every benchmark's quick smoke run (``python -m bench.report --quick``) passes against a
real broker, so that a broken benchmark fails the build; each run has a deadline there, so
a benchmark that hangs fails too instead of stalling CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import BENCHES, SMOKE_ONLY

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_quick_run_passes(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", "--quick", "--results", str(tmp_path),
         "--out", str(tmp_path / "REPORT.md")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        timeout=540,  # a backstop: the report stops any benchmark past its own deadline
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20_000:]
    written = {path.stem for path in tmp_path.glob("*.json")}
    assert {bench.name for bench in (*BENCHES, *SMOKE_ONLY)} <= written, output[-20_000:]
