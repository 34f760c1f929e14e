"""When a worker's table recovery has stalled (pure, no Faust).

After a rebalance a worker reads its tables' changelogs up to their ends before it judges
anything. Faust waits for that without a limit: if the reading stops short (a fetched
batch dropped while a partition changed hands, say), the worker holds its partitions and
judges nothing, for ever. ``RecoveryWatch`` says when the changes left to read have not
moved for ``stall_s``, so the worker can give its partitions up by crashing (a fresh
process recovers from the changelogs' start; its supervisor restarts it).
"""

from __future__ import annotations

from handrail.errors import HandrailError


class RecoveryWatch:
    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._remaining: int | None = None
        self._since = 0.0

    def stalled(self, recovering: bool, remaining: int, now: float) -> bool:
        """Has a recovery under way been left with the same ``remaining`` changes to
        read for ``stall_s`` seconds or more? Any change of ``remaining`` (read on, or a
        new rebalance with more to read) starts the wait again."""
        if not recovering:
            self._remaining = None
            return False
        if remaining != self._remaining:
            self._remaining, self._since = remaining, now
            return False
        return now - self._since >= self.stall_s


class RecoveryStalledError(HandrailError):
    """A worker's table recovery made no progress for too long; the worker stops."""
