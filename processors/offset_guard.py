"""Which keyed message the detect stage may judge next (pure, no Faust).

The internal keyed topic is neither compacted nor transactional: its offsets run without
holes, and each partition must be judged message after message. Faust's consumer does not
promise that: records fetched while a partition is not yet active again after a rebalance
are dropped without a seek back, and the next record delivered makes the hole a "gap"
that Faust counts as acknowledged, so its offsets were committed unjudged (a storm routed
in that moment was never paged). ``OffsetGuard`` sees the hole in the offsets the stage
receives and asks for a seek back to the first missing one; what arrives out of order
meanwhile is dropped, never judged nor acked, and comes again after the seek.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

RESEEK_S = 1.0
"""A seek back not answered within this long (its records overtaken by older fetches)
is asked for again."""

Verdict = Literal["judge", "drop"] | int
"""Judge the message, drop it, or seek its partition back to this offset."""


class OffsetGuard:
    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}
        self._seeking: dict[Hashable, float] = {}

    def admit(self, tp: Hashable, offset: int, committed: int | None, now: float) -> Verdict:
        """What to do with the message at ``offset`` of ``tp``. ``committed``: where the
        partition was read from when it was assigned (None if never committed: then the
        first message received sets the start)."""
        expected = self._next.get(tp)
        if expected is None:
            expected = offset if committed is None or offset < committed else committed
        if offset == expected:
            self._next[tp] = offset + 1
            self._seeking.pop(tp, None)
            return "judge"
        self._next[tp] = expected
        if offset < expected:
            return "drop"  # a copy of one judged already
        asked = self._seeking.get(tp)
        if asked is not None and now - asked < RESEEK_S:
            return "drop"
        self._seeking[tp] = now
        return expected

    def forget(self) -> None:
        """Partitions were revoked: each starts again from its committed offset."""
        self._next.clear()
        self._seeking.clear()
