"""The one rule for when a batch is due."""

from __future__ import annotations

from handrail.batching import BatchWindow


def test_a_batch_is_due_when_full_or_when_its_first_item_waited_the_window() -> None:
    window = BatchWindow(max_items=3, max_seconds=1.0)
    assert not window.due(0, now=10.0)
    assert not window.due(1, now=10.0)  # its window starts now
    assert window.left(10.5) == 0.5
    assert not window.due(2, now=10.9)
    assert window.due(2, now=11.0)
    assert window.due(3, now=11.0)


def test_a_taken_batch_starts_a_new_window_with_its_next_item() -> None:
    window = BatchWindow(max_items=100, max_seconds=1.0)
    window.due(5, now=0.0)
    window.taken()
    assert window.left(3.0) == 1.0
    assert not window.due(1, now=3.0)
    assert window.due(1, now=4.0)


def test_final_takes_whatever_waits_and_nothing_is_never_due() -> None:
    window = BatchWindow(max_items=100, max_seconds=60.0)
    assert window.due(1, now=0.0, final=True)
    assert not window.due(0, now=0.0, final=True)
