"""A worker's table recovery that reads nothing for ``stall_s`` is called stalled (the
worker then crashes and gives its partitions up instead of holding them for ever)."""

from __future__ import annotations

from handrail.processors.recovery_watch import RecoveryWatch


def test_a_recovery_that_reads_nothing_stalls() -> None:
    watch = RecoveryWatch(stall_s=60)
    assert not watch.stalled(True, 120, now=0)
    assert not watch.stalled(True, 120, now=59)
    assert watch.stalled(True, 120, now=60)


def test_reading_on_or_a_new_rebalance_starts_the_wait_again() -> None:
    watch = RecoveryWatch(stall_s=60)
    watch.stalled(True, 120, now=0)
    assert not watch.stalled(True, 80, now=50)  # read on
    assert not watch.stalled(True, 80, now=109)
    assert not watch.stalled(True, 300, now=115)  # a new rebalance: more to read
    assert watch.stalled(True, 300, now=175)


def test_no_recovery_is_never_stalled() -> None:
    watch = RecoveryWatch(stall_s=60)
    watch.stalled(True, 5, now=0)
    assert not watch.stalled(False, 5, now=100)
    assert not watch.stalled(True, 5, now=101)  # a recovery begins: its own wait
    assert watch.stalled(True, 5, now=161)
