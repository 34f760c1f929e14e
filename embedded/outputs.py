"""The pipeline's own events: alerts, halts and delivery records, numbered as one source.

What the Faust app sends to the alerts and control topics, and what its router records on
the events topic, the embedded pipeline writes to the ledger as rows of its own source
(``pipeline:<app id>``, offsets 0, 1, 2, ...). ``Outputs`` keeps, in journal maps keyed
by offset: ``own`` (encoded events not yet known to be in the ledger), ``outbox`` (alerts
the router has not handled yet) and ``control`` (halts not yet in the control log).
The router's ``alert_delivered`` events (``DeliveryEvents``) are added here too.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from handrail.ledger.batches import Message
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents


class Tracked(MutableMapping[str, Any]):
    """A dict that remembers which keys were set or deleted (for the journal)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.changed: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.changed.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def take_changed(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed


def by_offset(entries: MutableMapping[str, Any]) -> list[tuple[int, Any]]:
    return sorted((int(k), v) for k, v in entries.items())


class Outputs:
    """Numbers the pipeline's own events and keeps what is still to be done with them."""

    def __init__(self, own: Tracked, outbox: Tracked, control: Tracked, after: int | None) -> None:
        self.own, self.outbox, self.control = own, outbox, control
        known = [int(k) for k in own]
        self._next = max([after if after is not None else -1, *known]) + 1

    def add(self, key: bytes, value: bytes) -> int:
        offset, self._next = self._next, self._next + 1
        self.own[str(offset)] = [key.hex(), value.hex()]
        return offset

    def publish(self, encoder: FindingEvents, findings: list[Finding]) -> tuple[int, int]:
        """Encode findings as events; alerts go to the outbox, halts to the control queue.
        Returns (alerts, halts)."""
        alerts = halts = 0
        for out in encoder.encode(findings):
            offset = self.add(out.key, out.value)
            queue = self.outbox if out.topic == "alerts" else self.control
            queue[str(offset)] = out.value.hex()
            alerts += out.topic == "alerts"
            halts += out.topic == "halts"
        return alerts, halts

    def messages(self, after: int | None) -> list[Message]:
        """Own events after ``after`` (what the ledger has), as (offset, key, value)."""
        return [
            (offset, bytes.fromhex(key), bytes.fromhex(value))
            for offset, (key, value) in by_offset(self.own)
            if after is None or offset > after
        ]

    def written(self, upto: int | None) -> None:
        """The ledger has every own event up to ``upto``: forget them."""
        for offset, _ in by_offset(self.own):
            if upto is not None and offset <= upto:
                del self.own[str(offset)]
