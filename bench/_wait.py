"""Bounded waits for the benchmarks: a wait that stops making progress fails the run,
naming what it waited for (and the last lines of the logs that may say why), instead of
waiting for ever; a wait that keeps moving is never cut short."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

STALL_TIMEOUT_S = 180.0
"""How long a wait may make no progress before the run fails."""


class StalledError(RuntimeError):
    """A wait made no progress for too long."""

    def __init__(self, stage: str, value: int, timeout: float, logs: Sequence[Path]) -> None:
        tails = "".join(f"\n--- {log}:\n{_tail(log)}" for log in logs)
        super().__init__(f"{stage}: no progress for {timeout:g} s (stuck at {value:,})"
                         + (f"; the last lines of the logs:{tails}" if logs else ""))  # fmt: skip


def wait_for_progress(
    stage: str,
    progress: Callable[[], int],
    done: Callable[[int], bool],
    *,
    timeout: float = STALL_TIMEOUT_S,
    logs: Sequence[Path] = (),
    poll: float = 0.02,
) -> int:
    """Poll ``progress`` until ``done``; raise ``StalledError`` once it has not gone past
    its highest value for ``timeout`` seconds."""
    value = best = progress()
    moved = time.monotonic()
    while not done(value):
        if time.monotonic() - moved > timeout:
            raise StalledError(stage, value, timeout, logs)
        time.sleep(poll)
        value = progress()
        if value > best:
            best, moved = value, time.monotonic()
    return value


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"
