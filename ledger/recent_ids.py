"""A bounded memory of the event ids one partition carried lately (pure): how the sink
tells a second copy of an event from the first.

A copy reaches Kafka when a send the producer gave up on had in fact landed (a timeout
during an outage) or when an agent died in the middle of a spool replay: the SDK sends
again what it cannot prove delivered, and the copy has the same event id. Both copies of
an event share its workflow key, so they land in the same partition, close together;
remembering the partition's last ``limit`` ids catches them. The sink keeps the later
copy in ``quarantine`` (raw bytes, ``DuplicateEvent``), so rollups never count an event
twice and nothing is dropped silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class RecentIds:
    def __init__(self, limit: int, known: Iterable[tuple[str, int]] = ()) -> None:
        """``known``: (event id, offset) pairs already in the ledger, oldest first."""
        self._limit = limit
        self._offsets: dict[str, int] = {}
        self._order: deque[str] = deque()
        for event_id, offset in known:
            self.first_offset(event_id, offset)

    def __len__(self) -> int:
        return len(self._order)

    def first_offset(self, event_id: str, offset: int) -> int | None:
        """The offset of an earlier copy of ``event_id`` if one is remembered; else None,
        and this one is remembered (the oldest id is forgotten beyond the limit)."""
        earlier = self._offsets.get(event_id)
        if earlier is not None:
            return earlier
        self._offsets[event_id] = offset
        self._order.append(event_id)
        if len(self._order) > self._limit:
            del self._offsets[self._order.popleft()]
        return None
