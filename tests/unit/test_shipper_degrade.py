"""The shipper's switch to degraded, on its own: what was in flight is sealed into the
spool and tracked there, and nothing Kafka acknowledged is sent a second time, also when
an acknowledgement lands while the switch is under way (Kafka's network thread resolves
sends concurrently)."""

from __future__ import annotations

import uuid
from pathlib import Path

from handrail.producers.session import Session
from handrail.producers.shipping.delivery import Flight
from handrail.producers.shipping.shipper import Shipper
from handrail.producers.spool import Spool
from handrail.schemas import encode
from tests.support.samples import event_record


class Parked(Shipper):
    """A shipper whose thread does nothing: the test drives it."""

    def _run(self) -> None:
        return None


class Send:
    """A Kafka send's future; ``done_after`` looks at ``is_done`` it turns done."""

    def __init__(self, done_after: int | None, ok: bool = True) -> None:
        self._done_after = done_after
        self._looks = 0
        self._ok = ok

    @property
    def is_done(self) -> bool:
        self._looks += 1
        return self._done_after is not None and self._looks > self._done_after

    def succeeded(self) -> bool:
        return self._ok

    def failed(self) -> bool:
        return not self._ok

    @property
    def exception(self) -> BaseException | None:
        return None if self._ok else RuntimeError("refused")


def shipper(tmp_path: Path) -> tuple[Parked, Spool]:
    spool = Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=100)
    parked = Parked(
        session=Session({"name": "a", "owner": "t"}, {}), topic="t", spool=spool,
        producer_factory=lambda: None, buffer_max_events=10, max_block_ms=1,
        batch_max_events=10, send_timeout_s=5, retry_backoff_max_s=1,
    )  # fmt: skip
    return parked, spool


def test_an_ack_landing_during_the_switch_is_not_sent_again(tmp_path: Path) -> None:
    parked, spool = shipper(tmp_path)
    sends = {
        1: Send(done_after=0),  # acknowledged before the switch
        2: Send(done_after=1),  # acknowledged between two looks of the switch
        3: Send(done_after=None),  # still in flight
        4: Send(done_after=0, ok=False),  # failed: must be sent again
    }
    for seq, send in sends.items():
        message = encode(event_record(sequence=seq))
        parked._delivery.inflight.append(Flight(message, send, 0.0, None, 0))
    parked._degrade("test", backoff=False)
    segment = spool.head()
    assert segment is not None
    assert [r["sequence"] for r in segment.records] == [2, 3, 4]
    assert [segment.records[i]["sequence"] for i in segment.unsent(10)] == [4]
    parked._delivery.reap()  # 2 is acknowledged: confirmed in the segment, not resent
    assert [segment.records[i]["sequence"] for i in segment.unsent(10)] == [4]
    assert segment.confirmed == [True, False, False]
    assert parked.stats().delivered == 2
