"""A shipper that cannot die (issue 23): an event it cannot encode is set aside and the
events after it ship; an unexpected error restarts its loop; its buffer stays bounded and
``flush`` returns even when nothing can be written. The shipper is fed directly, as the
recorder feeds it (packed events), so values the SDK's validation refuses still reach it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from handrail.producers.shipping.shipper import Shipper
from handrail.producers.spool import Spool, read_all
from tests.support.hostile_events import GOOD_OF_TWELVE, SESSION, hostile_twelve, packed


def embedded(tmp_path: Path, cls: type[Shipper] = Shipper, **options: Any) -> Shipper:
    spool = Spool(tmp_path / "spool", SESSION.id, fsync=False, segment_max_events=100)
    settings: dict[str, Any] = {
        "buffer_max_events": 100, "max_block_ms": 50, "batch_max_events": 100,
        "send_timeout_s": 1.0, "retry_backoff_max_s": 0.2,
    } | options  # fmt: skip
    return cls(session=SESSION, topic="t", spool=spool, producer_factory=None, **settings)


def feed(shipper: Shipper, events: list[bytes]) -> None:
    with shipper.lock:
        for event in events:
            shipper.put(event)


def flush_within(shipper: Shipper, seconds: float) -> list[bool]:
    """``flush()`` (no timeout) on a helper thread: its result, or nothing if it hangs."""
    done: list[bool] = []
    waiter = threading.Thread(target=lambda: done.append(shipper.flush()), daemon=True)
    waiter.start()
    waiter.join(seconds)
    return done


def rejected(tmp_path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in (tmp_path / "spool").rglob("rejected.jsonl")
        for line in path.read_text().splitlines()
    ]


def test_an_event_that_cannot_be_encoded_is_set_aside_and_the_rest_ship(tmp_path: Path) -> None:
    shipper = embedded(tmp_path)
    feed(shipper, hostile_twelve())
    assert shipper.flush(10)
    stats = shipper.stats()
    assert (stats.spooled, stats.rejected, stats.durable, stats.restarts) == (10, 2, 12, 0)
    assert [r["sequence"] for r in read_all(tmp_path / "spool")] == GOOD_OF_TWELVE
    reasons = {entry["event"]["sequence"]: entry["reason"] for entry in rejected(tmp_path)}
    assert sorted(reasons) == [2, 7]
    assert "UnicodeEncodeError" in reasons[2] or "surrogate" in reasons[2]
    assert "cannot be encoded" in reasons[7]
    feed(shipper, [packed(13)])  # the shipper is still alive
    assert shipper.close(10)
    assert [r["sequence"] for r in read_all(tmp_path / "spool")][-1] == 13


def test_a_sealed_segment_sets_aside_what_it_cannot_encode(tmp_path: Path) -> None:
    """Kafka went away with unencodable events not yet sent: the segment holds the rest."""
    spool = Spool(tmp_path / "spool", SESSION.id, fsync=False, segment_max_events=100)
    records = [SESSION.unpack(event) for event in hostile_twelve()]
    segment = spool.seal(records)
    assert [r["sequence"] for r in segment.records] == GOOD_OF_TWELVE
    assert [r["sequence"] for r in read_all(tmp_path / "spool")] == [
        r["sequence"] for r in segment.records
    ]
    assert sorted(e["event"]["sequence"] for e in rejected(tmp_path)) == [2, 7]


class Flaky(Shipper):
    """A shipper whose loop meets an unexpected error on its first two passes."""

    failures = 2

    def _step(self) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("unexpected")
        return super()._step()


def test_an_unexpected_error_restarts_the_loop_logged_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="handrail.producers.shipping"):
        shipper = embedded(tmp_path, Flaky)
        feed(shipper, [packed(seq) for seq in range(1, 6)])
        assert shipper.flush(10)
        assert shipper.close(10)
    assert shipper.stats().restarts == 2
    assert [r["sequence"] for r in read_all(tmp_path / "spool")] == [1, 2, 3, 4, 5]
    assert len([r for r in caplog.records if "starts again" in r.getMessage()]) == 1


class Stuck(Shipper):
    """A shipper whose thread never collects (stuck in a system call, say)."""

    def _run(self) -> None:
        threading.Event().wait()


def test_the_buffer_stays_bounded_and_a_flush_without_timeout_returns(tmp_path: Path) -> None:
    shipper = embedded(tmp_path, Stuck, buffer_max_events=10, max_block_ms=1)
    for seq in range(1, 101):
        started = time.monotonic()
        feed(shipper, [packed(seq)])
        assert time.monotonic() - started < 0.5  # max_block_ms is 1 ms
    stats = shipper.stats()
    assert len(shipper._buffer) == 20  # twice the limit: the hard bound
    assert (stats.accepted, stats.lost) == (100, 80)
    # Nothing progresses: it gives up after 2 * send_timeout_s (2 s).
    assert flush_within(shipper, 10) == [False]


def test_a_flush_returns_false_at_once_when_what_is_missing_waits_for_the_disk(
    tmp_path: Path,
) -> None:
    shipper = embedded(tmp_path)
    root = tmp_path / "spool"
    root.rename(tmp_path / "moved")
    root.write_text("a file where the spool directory was: it cannot be made again")
    feed(shipper, [packed(seq) for seq in range(1, 6)])
    started = time.monotonic()
    assert flush_within(shipper, 10) == [False]
    assert time.monotonic() - started < 1.5
    stats = shipper.stats()
    assert (stats.held, stats.durable, stats.lost) == (5, 0, 0)
    root.unlink()
    assert shipper.flush(10)  # the directory is made again: what waited is written
    assert shipper.close(5)
    assert [r["sequence"] for r in read_all(root)] == [1, 2, 3, 4, 5]


def test_a_removed_session_directory_is_made_again_and_nothing_is_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", uuid.uuid4().hex, fsync=False, segment_max_events=100)
    records = [SESSION.unpack(packed(seq)) for seq in range(1, 9)]
    spool.append(records[:4])
    for path in spool.directory.iterdir():
        path.unlink()
    spool.directory.rmdir()
    spool.append(records[4:])
    spool.close()
    assert [r["sequence"] for r in read_all(tmp_path / "spool")] == list(range(1, 9))


class Parked(Shipper):
    """A shipper whose thread does nothing: the test drives it."""

    def _run(self) -> None:
        return None


def test_kafka_gone_and_a_spool_that_cannot_be_written_keeps_the_unsent_in_memory(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", SESSION.id, fsync=False, segment_max_events=100)
    parked = Parked(
        session=SESSION, topic="t", spool=spool, producer_factory=lambda: None,
        buffer_max_events=10, max_block_ms=1, batch_max_events=10, send_timeout_s=5,
        retry_backoff_max_s=1,
    )  # fmt: skip
    root = tmp_path / "spool"
    root.rename(tmp_path / "moved")
    root.write_text("a file where the spool directory was")
    parked._degrade("Kafka away", [SESSION.unpack(packed(seq)) for seq in (1, 2, 3)])
    assert [r["sequence"] for r in parked._keeper.held] == [1, 2, 3]
    assert parked.stats().durable == 0
    root.unlink()
    assert parked._keeper.write()
    assert [r["sequence"] for r in read_all(root)] == [1, 2, 3]
    assert parked.stats().durable == 3
