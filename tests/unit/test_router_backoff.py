"""Backoff schedule and retry classification."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from handrail.processors.router import RetrySettings
from handrail.processors.router.backoff import (
    backoff_delay,
    classify_status,
    parse_retry_after,
    schedule,
)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "ok"),
        (202, "ok"),
        (204, "ok"),
        (301, "fail"),
        (400, "fail"),
        (401, "fail"),
        (403, "fail"),
        (404, "fail"),
        (408, "fail"),
        (413, "fail"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
    ],
)
def test_classify_status(status: int, verdict: str) -> None:
    assert classify_status(status) == verdict


NO_JITTER = RetrySettings(
    max_attempts=6, initial_backoff_s=0.5, multiplier=2, max_backoff_s=5, jitter=0
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (NO_JITTER, [0.5, 1.0, 2.0, 4.0, 5.0]),
        (RetrySettings(max_attempts=1), []),
        (RetrySettings(max_attempts=3, initial_backoff_s=1, multiplier=1, jitter=0), [1, 1]),
        (RetrySettings(max_attempts=3, initial_backoff_s=0, jitter=0.5), [0, 0]),
    ],
)
def test_schedule(settings: RetrySettings, expected: list[float]) -> None:
    assert schedule(settings) == expected


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 0.8), (0.5, 1.0), (0.999999, 1.2)])
def test_jitter_band(rand: float, expected: float) -> None:
    retry = RetrySettings(initial_backoff_s=1, multiplier=2, jitter=0.2)
    assert backoff_delay(1, retry, rand=rand) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, 0.5),
        (0.1, 0.5),  # never shorter than our own backoff
        (3.0, 3.0),
        (60.0, 5.0),  # capped at max_backoff_s
    ],
)
def test_retry_after(retry_after: float | None, expected: float) -> None:
    assert backoff_delay(1, NO_JITTER, retry_after=retry_after) == expected


def test_jitter_never_exceeds_the_cap() -> None:
    retry = RetrySettings(initial_backoff_s=10, max_backoff_s=10, jitter=1)
    assert backoff_delay(3, retry, rand=0.99) == 10


NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("-3", None),
        (format_datetime(datetime(2026, 11, 24, 6, 0, 30, tzinfo=UTC), usegmt=True), 30.0),
        (format_datetime(datetime(2026, 11, 24, 5, 0, tzinfo=UTC), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected
