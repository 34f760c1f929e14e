"""The detect stage judges each keyed partition message after message: a hole in the
offsets it receives (records Faust dropped after a rebalance, then counted as acked) asks
for a seek back to the first missing one, and what arrives out of order meanwhile is
dropped, to come again after the seek."""

from __future__ import annotations

from handrail.processors.offset_guard import RESEEK_S, OffsetGuard


def test_messages_in_order_are_judged() -> None:
    guard = OffsetGuard()
    assert [guard.admit("p0", o, 13, now=0) for o in (13, 14, 15)] == ["judge"] * 3


def test_a_hole_asks_for_a_seek_back_and_drops_until_it_is_filled() -> None:
    guard = OffsetGuard()
    assert guard.admit("p0", 13, 13, now=0) == "judge"
    assert guard.admit("p0", 20, 13, now=0) == 14  # 14..19 never arrived: read them again
    assert guard.admit("p0", 21, 13, now=0.1) == "drop"  # the seek is under way
    assert guard.admit("p0", 14, 13, now=0.2) == "judge"
    assert guard.admit("p0", 15, 13, now=0.2) == "judge"


def test_the_first_message_after_an_assignment_is_held_to_the_committed_offset() -> None:
    guard = OffsetGuard()
    assert guard.admit("p0", 20, 13, now=0) == 13
    assert guard.admit("p1", 5, None, now=0) == "judge"  # never committed: starts here


def test_a_seek_not_answered_is_asked_again_and_copies_are_dropped() -> None:
    guard = OffsetGuard()
    guard.admit("p0", 13, 13, now=0)
    assert guard.admit("p0", 20, 13, now=0) == 14
    assert guard.admit("p0", 21, 13, now=RESEEK_S + 0.1) == 14
    assert guard.admit("p0", 13, 13, now=2) == "drop"  # judged already


def test_a_revocation_starts_every_partition_from_its_committed_offset() -> None:
    guard = OffsetGuard()
    guard.admit("p0", 13, 13, now=0)
    guard.forget()
    assert guard.admit("p0", 10, 10, now=1) == "judge"
