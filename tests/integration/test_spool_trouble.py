"""Disk trouble during a workload (issue 23): a full disk, a removed spool directory and a
read-only spool directory each leave the agent running. Its calls never raise and never
wait past ``max_block_ms``; what could not be written waits in memory up to
``buffer_max_events`` and is written once the disk takes it again; what could not be
kept is counted (``stats().lost``). For both shippers (a thread, a process of its own).

The disk is real: a 2 MB tmpfs mounted for the test (``mount -t tmpfs``; the tests run as
root, and mounting is permitted in this container), filled with a file until it refuses
more. A read-only directory is a read-only bind mount over the session's directory (as
root, a mode cannot keep anyone out).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from handrail.control.log import ControlLog
from handrail.producers import Recorder
from handrail.producers.shipping import ShipperStats
from handrail.producers.spool import read_all
from handrail.schemas import decode
from handrail.settings import AgentIdentity, ProducerSettings, Settings, SpoolSettings

Shipper = Literal["thread", "process"]
SHIPPERS: list[Shipper] = ["thread", "process"]
MAX_BLOCK_MS = 100.0
SLACK_S = 0.2
"""Scheduling on a loaded 2-core machine, added to ``max_block_ms`` for a call's bound."""
STATUS = "x" * 300  # each event takes about 450 bytes in the spool


@contextlib.contextmanager
def mounted(target: Path, *args: str) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *args, target], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", target], check=True)


def settings(base: Path, shipper: Shipper, buffer_max_events: int = 500) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=base / "spool", control_log=base / "control.log",
                            segment_max_events=50),
        producer=ProducerSettings(shipper=shipper, buffer_max_events=buffer_max_events,
                                  max_block_ms=MAX_BLOCK_MS, send_timeout_s=1.0,
                                  retry_backoff_max_s=0.2),
    )  # fmt: skip


def timed_calls(call: Callable[[], object], n: int) -> float:
    """Run ``call`` n times; the longest one, in seconds (any exception fails the test)."""
    longest = 0.0
    for _ in range(n):
        started = time.perf_counter()
        call()
        longest = max(longest, time.perf_counter() - started)
    return longest


def settled(
    rec: Recorder, done: Callable[[ShipperStats], bool], seconds: float = 60
) -> ShipperStats:
    """The recorder's stats once ``done`` holds (they change as the shipper works)."""
    deadline = time.monotonic() + seconds
    while not done(stats := rec.stats()):
        assert time.monotonic() < deadline, f"never settled: {stats}"
        rec.flush(0.05)
    return stats


def accounted(stats: ShipperStats) -> bool:
    """Every accepted event is durable, counted lost, or waits in memory for the disk."""
    return stats.durable + stats.lost + stats.held == stats.accepted


def spooled(base: Path) -> list[int]:
    return [r["sequence"] for r in read_all(base / "spool")]


def fill(disk: Path) -> Path:
    """Fill the disk with one file until it refuses more."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


@pytest.mark.parametrize("shipper", SHIPPERS)
def test_a_full_disk_keeps_the_agent_running_and_counts_what_is_lost(
    tmp_path: Path, shipper: Shipper
) -> None:
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=2m", "tmpfs") as disk:
        rec = Recorder(settings(disk, shipper), AgentIdentity(name="full", owner="t"))
        try:
            for _ in range(100):
                rec.heartbeat(status=STATUS)
            assert rec.flush(60)
            filler = fill(disk)
            expires = datetime.now(UTC) + timedelta(minutes=5)
            longest = timed_calls(  # a control event: the control log is on the full disk too
                lambda: rec.approval_requested("ap-1", "db.write", "why", expires_at=expires), 1
            )
            longest = max(longest, timed_calls(lambda: rec.heartbeat(status=STATUS), 3_000))
            assert longest < MAX_BLOCK_MS / 1000 + SLACK_S
            full = settled(rec, lambda s: accounted(s) and s.held > 0)
            assert full.held == 500, "what could not be written waits in memory, to the bound"
            assert full.lost >= 3_001 - 500 - 100, "the rest is counted lost"
            filler.unlink()
            after = settled(rec, lambda s: s.held == 0 and accounted(s))
            assert after.lost == full.lost
            assert after.durable == after.accepted - after.lost
            assert rec.close(30) is False  # events were lost
        finally:
            rec.close(5)
        sequences = spooled(disk)
        assert len(sequences) == len(set(sequences)) == after.spooled == after.durable
        assert sequences[:100] == list(range(1, 101))
        control = [decode(v)[1]["payload"][1] for v in ControlLog(disk / "control.log").read()[0]]
        assert [p["approval_id"] for p in control] == ["ap-1"]  # it waited, then was written


@pytest.mark.parametrize("shipper", SHIPPERS)
def test_a_removed_spool_directory_is_made_again_and_nothing_is_lost(
    tmp_path: Path, shipper: Shipper
) -> None:
    with Recorder(settings(tmp_path, shipper), AgentIdentity(name="rm", owner="t")) as rec:
        for _ in range(30):  # the tail segment holds them (50 a segment)
            rec.heartbeat(status=STATUS)
        assert rec.flush(60)
        shutil.rmtree(tmp_path / "spool")
        longest = timed_calls(lambda: rec.heartbeat(status=STATUS), 300)
        assert longest < MAX_BLOCK_MS / 1000 + SLACK_S
        assert rec.flush(30)
        stats = rec.stats()
    assert (stats.accepted, stats.durable, stats.lost) == (330, 330, 0)
    assert spooled(tmp_path) == list(range(1, 331))


@pytest.mark.parametrize("shipper", SHIPPERS)
def test_a_read_only_spool_directory_keeps_events_in_memory_until_it_is_writable(
    tmp_path: Path, shipper: Shipper
) -> None:
    rec = Recorder(settings(tmp_path, shipper, buffer_max_events=1_000),
                   AgentIdentity(name="ro", owner="t"))  # fmt: skip
    try:
        rec.heartbeat(status=STATUS)
        assert rec.flush(60)
        [own] = (tmp_path / "spool").glob(f"*-{rec.session_id}")
        with mounted(own, "--bind", str(own)):
            subprocess.run(["mount", "-o", "remount,bind,ro", own], check=True)
            longest = timed_calls(lambda: rec.heartbeat(status=STATUS), 400)
            assert longest < MAX_BLOCK_MS / 1000 + SLACK_S
            stuck = settled(rec, lambda s: accounted(s) and s.held > 0)
            assert stuck.lost == 0
            assert stuck.write_failures > 0
        assert rec.flush(30), "once writable, what waited is written"
        stats = rec.stats()
    finally:
        rec.close(5)
    assert (stats.accepted, stats.durable, stats.lost) == (401, 401, 0)
    assert spooled(tmp_path) == list(range(1, 402))


def test_a_control_event_never_waits_for_the_control_log(tmp_path: Path) -> None:
    """Another process holds the control log's lock (a compaction, say): the agent's call
    returns at once, and its entry is appended once the lock is free."""
    s = settings(tmp_path, "thread")
    s.spool.control_log.parent.mkdir(parents=True, exist_ok=True)
    with Recorder(s, AgentIdentity(name="ctl", owner="t")) as rec:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        with s.spool.control_log.open("ab") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            returned = threading.Event()
            agent = threading.Thread(
                target=lambda: (rec.approval_requested("ap-2", "db.write", "why",
                                                       expires_at=expires), returned.set()),
                daemon=True,
            )  # fmt: skip
            agent.start()
            assert returned.wait(MAX_BLOCK_MS / 1000 + SLACK_S), "the call waited for the lock"
            fcntl.flock(held, fcntl.LOCK_UN)
        deadline = time.monotonic() + 10
        while not (values := ControlLog(s.spool.control_log).read()[0]):
            assert time.monotonic() < deadline, "the entry never reached the control log"
            rec.flush(0.05)
        assert decode(values[0])[1]["payload"][1]["approval_id"] == "ap-2"


@pytest.mark.parametrize("shipper", SHIPPERS)
def test_a_spool_unusable_at_start_leaves_the_agent_running(
    tmp_path: Path, shipper: Shipper
) -> None:
    """The spool's parent is a file when the recorder starts: it starts all the same, keeps
    the events in memory, and writes them once the directory can be made."""
    (tmp_path / "base").write_text("a file where the spool's parent directory should be")
    s = settings(tmp_path / "base", shipper)
    rec = Recorder(s, AgentIdentity(name="early", owner="t"))
    try:
        longest = timed_calls(lambda: rec.heartbeat(status=STATUS), 20)
        assert longest < MAX_BLOCK_MS / 1000 + SLACK_S
        waiting = settled(rec, lambda st: accounted(st) and st.held == 20)
        assert (waiting.durable, waiting.lost) == (0, 0)
        (tmp_path / "base").unlink()
        assert rec.flush(30)
    finally:
        rec.close(5)
    assert spooled(tmp_path / "base") == list(range(1, 21))
