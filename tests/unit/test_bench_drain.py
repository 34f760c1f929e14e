"""The processors benchmarks' waits are bounded: a stage that stops making progress (a
worker stuck in its changelog's recovery) fails the run, naming the stage and showing the
workers' last log lines; a stage that keeps moving is never cut short. No broker here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench._wait import StalledError, wait_for_progress


def _counter(values: list[int]) -> Iterator[int]:
    yield from values
    while True:
        yield values[-1]


def test_a_stage_that_stands_still_fails_naming_it_and_the_logs(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("Ready\nNo event received for active tp TP(topic='x-changelog')\n")
    progress = _counter([3, 5, 5])
    with pytest.raises(StalledError) as caught:
        wait_for_progress("judging", lambda: next(progress), lambda v: v >= 10,
                          timeout=0.2, logs=[log], poll=0.01)  # fmt: skip
    text = str(caught.value)
    assert text.startswith("judging: no progress for 0.2 s (stuck at 5)")
    assert "No event received for active tp" in text


def test_a_value_that_flaps_below_its_best_is_no_progress(tmp_path: Path) -> None:
    """A group whose membership goes 1, 0, 1, 0 (rebalancing for ever) never forms."""
    flaps = iter([1, 0] * 1000)
    with pytest.raises(StalledError, match="forming"):
        wait_for_progress("forming", lambda: next(flaps), lambda v: v >= 2,
                          timeout=0.2, logs=[tmp_path / "absent.log"], poll=0.01)  # fmt: skip


def test_a_stage_that_keeps_moving_outlasts_the_timeout() -> None:
    steps = iter(range(100))
    assert wait_for_progress("routing", lambda: next(steps), lambda v: v >= 40,
                             timeout=0.1, logs=[], poll=0.005) == 40  # fmt: skip
