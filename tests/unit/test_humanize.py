"""Durations, dollars and counts as people read them (alert texts, the terminal)."""

from __future__ import annotations

import math

import pytest

from handrail.humanize import duration, plural, usd


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.0001, "0ms"),
        (0.25, "250ms"),
        (0.9996, "1s"),
        (1.25, "1.2s"),
        (5.99988, "6s"),  # a handoff deadline measured on the sender's clock
        (9.96, "10s"),
        (42.4, "42s"),
        (59.6, "1m"),
        (125, "2m 5s"),
        (600, "10m"),
        (3599.6, "1h"),
        (12_000, "3h 20m"),
        (86_399, "1d"),
        (200_000, "2d 8h"),
        (-3, "-3s"),
        (math.inf, "forever"),
        (math.nan, "an unknown time"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0, "$0.00"),
        (20.149999999999995, "$20.15"),  # a sum of floats
        (0.04, "$0.04"),
        (792, "$792.00"),
        (1_234_567.891, "$1,234,567.89"),
        (0.0042, "$0.0042"),  # a small cost never reads as nothing
        (0.00999, "$0.01"),
        (-5, "-$5.00"),
        (math.inf, "$inf"),
    ],
)
def test_dollars_have_cents(amount: float, shown: str) -> None:
    assert usd(amount) == shown


def test_plural() -> None:
    assert plural(1, "session") == "1 session"
    assert plural(2, "session") == "2 sessions"
    assert plural(0, "entry", "entries") == "0 entries"
    assert plural(3.0, "heartbeat") == "3 heartbeats"  # a threshold read as a float
