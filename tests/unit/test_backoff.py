"""The one exponential backoff every retry loop waits by."""

from __future__ import annotations

from handrail.backoff import Backoff, exponential


def test_waits_double_up_to_the_ceiling() -> None:
    assert [exponential(n, 0.5, 30.0) for n in (1, 2, 3, 7, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    assert exponential(3, 1.0, 100.0, multiplier=3.0) == 9.0


def test_an_attempt_past_any_float_waits_the_ceiling_instead_of_raising() -> None:
    assert exponential(10**6, 0.1, 60.0) == 60.0
    assert exponential(0, 0.1, 60.0) == 0.1  # never below the first wait


def test_a_success_starts_the_waits_again() -> None:
    backoff = Backoff(0.1, 0.4)
    assert [backoff.next() for _ in range(4)] == [0.1, 0.2, 0.4, 0.4]
    backoff.reset()
    assert (backoff.failures, backoff.next()) == (0, 0.1)
