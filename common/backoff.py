"""Exponential backoff, the one implementation: every retry loop of handrail waits by it."""

from __future__ import annotations

from dataclasses import dataclass


def exponential(attempt: int, initial: float, ceiling: float, multiplier: float = 2.0) -> float:
    """Seconds to wait after failure ``attempt`` (1-based): ``initial * multiplier**(n-1)``,
    at most ``ceiling`` (also when the power overflows a float)."""
    try:
        return min(ceiling, initial * multiplier ** max(0, attempt - 1))
    except OverflowError:
        return ceiling


@dataclass
class Backoff:
    """The waits of one retry loop: each ``next()`` is twice the last, up to ``ceiling``;
    ``reset()`` after a success starts again from ``initial``."""

    initial: float
    ceiling: float
    failures: int = 0

    def next(self) -> float:
        """The wait after one more failure."""
        self.failures += 1
        return exponential(self.failures, self.initial, self.ceiling)

    def reset(self) -> None:
        self.failures = 0
