"""Positions of spool events as ledger offsets, and when a segment is covered."""

from __future__ import annotations

import pytest

from handrail.producers.spool.layout import looks_like_segment, segment_number, session_of
from handrail.producers.spool.positions import (
    MAX_SEGMENT,
    REST,
    STRAY,
    covered,
    lowest,
    next_position,
    position,
    source_topic,
    split,
)


def test_offsets_grow_in_reading_order_and_split_back() -> None:
    order = [(1, 0), (1, 1), (1, 9_999), (1, REST), (2, 0), (12, 3)]
    offsets = [position(s, i) for s, i in order]
    assert offsets == sorted(offsets)
    assert [split(o) for o in offsets] == order


def test_an_index_past_the_rest_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        position(1, REST + 1)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(None, (0, 0)), (position(3, 4), (3, 5)), (position(3, REST), (4, 0))],
)
def test_reading_resumes_right_after_an_offset(offset: int | None, expected: tuple) -> None:
    assert next_position(offset) == expected


def test_names() -> None:
    assert session_of("01795518336072409193-0397459c98324760890b924553d1b208") == (
        "0397459c98324760890b924553d1b208"
    )
    assert session_of("notes") is None
    assert source_topic("0397459c") == "spool:0397459c"
    assert segment_number("seg-00000007.avro") == 7
    assert segment_number("seg-00000007.cursor") is None
    assert segment_number("lock") is None


def test_lowest_is_unknown_when_any_side_has_nothing() -> None:
    assert lowest(5, 9) == 5
    assert lowest(5, None) is None


@pytest.mark.parametrize(
    ("last", "done", "expected"),
    [
        (None, (None, None), True),  # a segment with nothing in it
        (10, (10, 10), True),
        (10, (12, 10), True),
        (10, (12, 9), False),  # the detectors have not judged it all yet
        (10, (None, 12), False),  # the ledger has nothing of this source
    ],
)
def test_covered(last: int | None, done: tuple, expected: bool) -> None:
    assert covered(last, *done) is expected


def test_segment_names_are_read_only_as_the_spool_writes_them_and_within_range() -> None:
    assert segment_number("seg-4294967296.avro") is None  # its offsets would pass 2**64
    assert segment_number(f"seg-{MAX_SEGMENT + 1}.avro") is None
    assert segment_number(f"seg-{MAX_SEGMENT}.avro") == MAX_SEGMENT
    assert position(MAX_SEGMENT, REST) < 2**63  # a signed 64-bit integer everywhere
    assert segment_number("seg-1.avro") is None  # a second name for segment 1
    assert segment_number("seg-000000001.avro") is None
    assert segment_number("seg-00000001.avro") == 1
    with pytest.raises(ValueError, match="segment number out of range"):
        position(MAX_SEGMENT + 1, 0)
    assert looks_like_segment("seg-1.avro")
    assert looks_like_segment("notes.avro")
    assert not looks_like_segment("seg-00000001.cursor")
    assert not looks_like_segment("rejected.jsonl")
    assert STRAY < REST
