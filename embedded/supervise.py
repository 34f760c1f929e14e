"""``handrail run`` with Kafka: the sink and a processors worker as child processes,
restarted when they fail, stopped together (I/O, apart from ``restart_delay``)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from handrail.backoff import exponential

log = logging.getLogger(__name__)

CHILDREN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sink", ("sink", "run")),
    ("processors", ("processors", "run")),
)
"""The distributed pipeline: ``handrail sink run`` and ``handrail processors run``."""
STOP_S = 30.0
"""How long children get to stop after SIGTERM before they are killed."""
STEADY_S = 60.0
"""A child that ran this long before it failed is restarted at once."""


def restart_delay(failures: int, ran_for: float, ceiling: float = 30.0) -> float:
    """Seconds to wait before restarting a child that failed ``failures`` times in a row
    (this one included) after running ``ran_for`` seconds."""
    if ran_for >= STEADY_S:
        return 0.0
    return exponential(failures, 0.5, ceiling)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        self.started = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)


def handrail_argv(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "handrail", *args]


def supervise(children: list[Child], stop: threading.Event, poll_s: float = 0.2) -> None:
    """Run the children until ``stop``; restart one that exits, with backoff."""
    for child in children:
        child.start()
    try:
        while not stop.wait(poll_s):
            now = time.monotonic()
            for child in children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.start()
                    continue
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    continue
                ran = now - child.started
                child.failures = 1 if ran >= STEADY_S else child.failures + 1
                delay = restart_delay(child.failures, ran)
                log.warning("%s exited with %s after %.0fs; restarting in %.1fs",
                            child.name, code, ran, delay)  # fmt: skip
                child.restart_at = now + delay
    finally:
        _stop_all(children)


def _stop_all(children: list[Child]) -> None:
    running = [c.process for c in children if c.process and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
