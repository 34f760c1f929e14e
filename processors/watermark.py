"""The clock for absence (pure, no Faust).

Silence, stalled handoffs and sequence gaps are found by what has *not* arrived. A worker
catching up on a backlog must not take events it has not read yet for events that never
came, so absence is judged against the time up to which every event has been read, not
the wall clock.

The route stage keeps ``ReadProgress``: per events partition, the offset and the record
time of the last event it routed. Its *mark* for a partition is the wall clock when
nothing is left to read there, else the record time of the last event routed (never
ahead of the wall clock). Every worker sends its marks with each tick.

The detect stage keeps ``Watermarks`` per keyed partition: the latest mark of every events
partition, as ticks bring them. A tick's clock is the least of them, and unknown until
every events partition has reported; a partition whose worker died holds the clock back
until another worker takes it over.
"""

from __future__ import annotations

import orjson


class ReadProgress:
    """What the route stage of this worker has read, per events partition."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, float]] = {}
        self._idle: dict[int, int] = {}  # nothing routed, all fetched: at which end offset

    def routed(self, partition: int, offset: int, time: float) -> None:
        self._last[partition] = (offset, time)

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker no longer reads (another worker may move them on)."""
        for partition in partitions:
            self._last.pop(partition, None)
            self._idle.pop(partition, None)

    def marks(
        self, ends: dict[int, int], positions: dict[int, int | None], now: float
    ) -> dict[int, float]:
        """The marks of the partitions read here, given each one's end offset and the
        consumer's fetch position. A partition with nothing routed since it was assigned
        has no mark until it was seen fully fetched, with the same end, twice in a row:
        what was fetched is routed within one tick."""
        marks = {}
        for partition, end in ends.items():
            last = self._last.get(partition)
            if last is None:
                position = positions.get(partition)
                if position is None or position < end:
                    self._idle.pop(partition, None)
                elif self._idle.get(partition) == end:
                    marks[partition] = now
                else:
                    self._idle[partition] = end
            elif last[0] + 1 >= end:
                marks[partition] = now
            else:
                marks[partition] = min(last[1], now)
        return marks


def tick_value(sources: int, marks: dict[int, float]) -> bytes:
    return orjson.dumps({"sources": sources, "marks": {str(p): t for p, t in marks.items()}})


class Watermarks:
    """The marks that reached each keyed partition."""

    def __init__(self) -> None:
        self._marks: dict[int, dict[int, float]] = {}

    def tick(self, keyed_partition: int, value: bytes) -> float | None:
        """Take a tick's marks; return the clock for absence on that partition, or None
        while some events partition has not reported yet."""
        tick = orjson.loads(value)
        marks = self._marks.setdefault(keyed_partition, {})
        marks.update({int(p): float(t) for p, t in tick["marks"].items()})
        sources = range(int(tick["sources"]))
        if any(p not in marks for p in sources):
            return None
        return min(marks[p] for p in sources)
