"""The sink tells a second copy of an event from the first (``RecentIds``, ``build``)."""

from __future__ import annotations

from handrail.ledger.batches import build
from handrail.ledger.recent_ids import RecentIds
from handrail.schemas import encode
from tests.support.samples import event_record


def test_a_copy_is_known_by_its_first_offset() -> None:
    recent = RecentIds(10)
    assert recent.first_offset("a", 1) is None
    assert recent.first_offset("b", 2) is None
    assert recent.first_offset("a", 7) == 1
    assert recent.first_offset("a", 8) == 1  # still the first copy's offset
    assert len(recent) == 2


def test_the_memory_forgets_the_oldest_beyond_its_limit() -> None:
    recent = RecentIds(3, known=[("a", 1), ("b", 2), ("c", 3)])
    assert recent.first_offset("a", 9) == 1
    assert recent.first_offset("d", 4) is None  # "a" is forgotten now
    assert len(recent) == 3
    assert recent.first_offset("a", 10) is None
    assert recent.first_offset("c", 11) == 3


def test_a_copy_goes_to_quarantine_with_its_bytes_and_the_first_offset() -> None:
    event = encode(event_record("spend"))
    other = encode(event_record("retry"))
    recent = RecentIds(100)
    items = build("t", 4, [(10, b"k", event), (11, b"k", other), (12, b"k", event)], recent)
    assert [table for table, _ in items] == ["ingest", "ingest", "quarantine"]
    copy = items[2][1]
    assert copy["error_type"] == "DuplicateEvent"
    assert copy["raw_hex"] == event.hex()
    assert copy["offset"] == 12
    assert "at offset 10 of partition 4" in copy["error"]
    assert items[0][1]["event_id"] in copy["error"]
    # The next batch of the partition remembers too: a later copy is caught as well.
    [(table, row)] = build("t", 4, [(13, b"k", other)], recent)
    assert (table, row["error_type"]) == ("quarantine", "DuplicateEvent")


def test_without_a_memory_every_copy_is_an_event() -> None:
    event = encode(event_record("spend"))
    assert [t for t, _ in build("t", 0, [(1, None, event), (2, None, event)])] == ["ingest"] * 2
    careful = build("t", 0, [(1, None, event), (2, None, event)], careful=True)
    assert [t for t, _ in careful] == ["events"] * 2
