"""The clock for absence: how far the route stage has read, and the least of it across
every events partition."""

from __future__ import annotations

import pytest

from handrail.processors.watermark import ReadProgress, Watermarks, tick_value

NOW = 1_000.0


def test_a_partition_read_to_its_end_is_at_the_wall_clock() -> None:
    progress = ReadProgress()
    progress.routed(0, 41, 900.0)
    assert progress.marks({0: 42}, {0: 42}, NOW) == {0: NOW}


def test_a_lagging_partition_is_at_the_time_of_its_last_routed_event() -> None:
    progress = ReadProgress()
    progress.routed(0, 10, 900.0)
    assert progress.marks({0: 5_000}, {0: 600}, NOW) == {0: 900.0}


def test_a_record_time_ahead_of_the_wall_clock_is_capped() -> None:
    progress = ReadProgress()
    progress.routed(0, 10, NOW + 3_600)  # a producer clock an hour ahead
    assert progress.marks({0: 20}, {0: 20}, NOW) == {0: NOW}


@pytest.mark.parametrize(
    ("checks", "marked"),
    [
        ([(7, 7), (7, 7)], True),  # fully fetched, same end twice: idle
        ([(7, 7)], False),  # once is not enough: the fetch may not be routed yet
        ([(7, 7), (9, 9)], False),  # the end moved: events arrived
        ([(3, 7), (3, 7)], False),  # still fetching its backlog
        ([(None, 7), (None, 7)], False),  # position unknown
    ],
)
def test_a_partition_with_nothing_routed_since_assignment(
    checks: list[tuple[int | None, int]], marked: bool
) -> None:
    progress = ReadProgress()
    marks: dict[int, float] = {}
    for position, end in checks:
        marks = progress.marks({0: end}, {0: position}, NOW)
    assert marks == ({0: NOW} if marked else {})


def test_a_forgotten_partition_starts_over() -> None:
    progress = ReadProgress()
    progress.routed(0, 10, 900.0)
    progress.forget({0})
    assert progress.marks({0: 500}, {0: 20}, NOW) == {}  # another worker moved it on


def test_the_clock_waits_for_every_events_partition() -> None:
    marks = Watermarks()
    assert marks.tick(0, tick_value(3, {0: 950.0, 1: 990.0})) is None
    assert marks.tick(0, tick_value(3, {2: 970.0})) == 950.0


def test_the_latest_mark_of_a_partition_counts_even_when_it_went_back() -> None:
    marks = Watermarks()
    marks.tick(0, tick_value(2, {0: 990.0, 1: 995.0}))
    assert marks.tick(0, tick_value(2, {1: 900.0})) == 900.0  # a new owner with a backlog


def test_keyed_partitions_keep_their_own_marks() -> None:
    marks = Watermarks()
    marks.tick(0, tick_value(1, {0: 990.0}))
    assert marks.tick(1, tick_value(1, {0: 800.0})) == 800.0
    assert marks.tick(0, tick_value(1, {0: 995.0})) == 995.0
