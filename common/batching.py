"""When a batch is due, the one rule of the sink, the embedded pipeline and the processors'
reader: when it holds ``max_items``, or ``max_seconds`` after its first item came."""

from __future__ import annotations


class BatchWindow:
    def __init__(self, max_items: int, max_seconds: float) -> None:
        self.max_items = max_items
        self.max_seconds = max_seconds
        self._since: float | None = None

    def due(self, items: int, now: float, final: bool = False) -> bool:
        """Whether a batch of ``items`` is due at ``now`` (monotonic seconds); the first
        call that sees items starts its window. ``final``: due if it holds anything."""
        if not items:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        return final or items >= self.max_items or now - self._since >= self.max_seconds

    def left(self, now: float) -> float:
        """Seconds until the batch under way is due by time (a whole window when none is)."""
        if self._since is None:
            return self.max_seconds
        return max(0.0, self._since + self.max_seconds - now)

    def taken(self) -> None:
        """The batch was written: the next item starts a new window."""
        self._since = None
