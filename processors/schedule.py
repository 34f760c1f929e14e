"""Which keys a tick visits (pure, no Faust).

A worker holds state for every agent and for every workflow seen in the last day, far
more keys than have anything waiting for time to pass. A tick visits the keys with work
pending (``Detection.pending``: every agent, a workflow while an execution waits to be
judged), and every key of its partition in a full pass: on the first tick after the
partition was assigned (its states came back from the changelog) and every
``full_pass_s`` after, which also lets finished workflows be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class TickSchedule:
    def __init__(self, full_pass_s: float) -> None:
        self._full_pass_s = full_pass_s
        self._live: dict[int, set[str]] = {}
        self._full_pass: dict[int, float] = {}

    def keys(self, partition: int, now: float, every_key: Callable[[], Iterable[str]]) -> list[str]:
        """The keys the tick at ``now`` visits on ``partition``."""
        last = self._full_pass.get(partition)
        if last is None or now - last >= self._full_pass_s:
            self._full_pass[partition] = now
            keys = list(every_key())
            self._live[partition] = set(keys)
            return keys
        return list(self._live.get(partition, ()))

    def update(self, partition: int, key: str, pending: bool) -> None:
        """After an event or a tick: does ``key`` still need ticks?"""
        if pending:
            self._live.setdefault(partition, set()).add(key)
        else:
            self._live.get(partition, set()).discard(key)

    def forget(self) -> None:
        """The partitions moved: start over with a full pass on each."""
        self._live.clear()
        self._full_pass.clear()
