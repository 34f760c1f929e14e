"""The control log's frames: bytes that are no frame (a hostile length, a torn write, an
earlier version's entries) never hide the entries after them, from a tailing reader, a
new reader or compaction; a failed append is cut back; a symlink is never read."""

from __future__ import annotations

import fcntl
import resource
import signal
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handrail.control.compaction import compact
from handrail.control.log import ControlLog, Tail
from handrail.schemas import decode, encode
from tests.support.samples import event_record
from tests.support.signers import halt_fields

HOSTILE_LENGTH = b"\xff\xff\xff\xff"
TORN_FRAME = struct.pack(">4sII", b"HRC1", 5000, 0) + b"half an entry"
"""What a writer that died leaves: a frame's head claiming 5,000 bytes, and a few."""
TORN_OLD = b"\x00\x01\x00\x00" + b"half an entry"
"""The same, as a writer of the earlier format (a bare length) leaves it."""


def halt(agent: str) -> bytes:
    return encode(event_record("halt", agent="handrail-processors", **halt_fields(agent, None)))


def targets(values: list[bytes]) -> list[str]:
    return [decode(v)[1]["payload"][1]["target_agent"] for v in values]


def plant(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


@pytest.mark.parametrize("junk", [HOSTILE_LENGTH, TORN_FRAME, TORN_OLD])
def test_bytes_that_are_no_frame_never_hide_the_halt_after_them(
    tmp_path: Path, junk: bytes
) -> None:
    path = tmp_path / "control.log"
    log = ControlLog(path)
    log.append([halt("first")])
    running = Tail(path)
    assert targets(running.read()) == ["first"]
    plant(path, junk)  # no lock held: nobody can still complete it
    log.append([halt("writer")])
    assert targets(running.read()) == ["writer"]
    assert running.read() == []
    fresh = Tail(path)  # a new agent reads to the end, and sees the halt
    assert targets(fresh.read()) == ["first", "writer"]
    assert fresh.at_end()
    assert targets(log.read()[0]) == ["first", "writer"]
    running.close()
    fresh.close()


def test_compaction_keeps_every_frame_after_bytes_that_are_no_frame(tmp_path: Path) -> None:
    path = tmp_path / "control.log"
    plant(path, HOSTILE_LENGTH)
    ControlLog(path).append([halt("writer")])
    ControlLog(path, max_bytes=10).append([halt("other")])  # past the limit: compacted
    assert targets(ControlLog(path).read()[0]) == ["writer", "other"]
    assert HOSTILE_LENGTH not in path.read_bytes()  # rewritten: the junk is gone (logged)


def test_a_frame_cut_short_while_its_writer_holds_the_lock_is_waited_for(
    tmp_path: Path,
) -> None:
    path = tmp_path / "control.log"
    log = ControlLog(path)
    log.append([halt("first")])
    whole = path.read_bytes()
    tail = Tail(path)
    assert targets(tail.read()) == ["first"]
    with path.open("ab") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        writer.write(whole[:20])  # the head and a few bytes of the same frame again
        writer.flush()
        assert tail.read() == []  # not yet written
        assert targets(log.read()[0]) == ["first"]
        assert log.read()[1] == len(whole)
        writer.write(whole[20:])
        writer.flush()
        assert targets(tail.read()) == ["first"]
    tail.close()


def test_a_failed_append_is_cut_back_off_the_log(tmp_path: Path) -> None:
    """A full disk (here: a file size limit) fails the append part way through its write:
    the bytes it wrote are cut off, so the next append is a whole frame after whole ones."""
    path = tmp_path / "control.log"
    log = ControlLog(path)
    log.append([halt("first")])
    size = path.stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))
    try:
        with pytest.raises(OSError, match="File too large"):
            log.append([halt("lost") * 2])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert path.stat().st_size == size
    log.append([halt("writer")])
    fresh = Tail(path)
    assert targets(fresh.read()) == ["first", "writer"]
    fresh.close()


def test_a_future_dated_entry_never_pushes_out_a_recent_decision() -> None:
    """An unsigned entry dated 2299 must not move compaction's "a day ago" past a decision
    made an hour ago (a waiting agent may not have read it yet)."""
    now = datetime.now(UTC)

    def dated(time: datetime, kind: str, **fields: str) -> bytes:
        record = event_record(kind, **fields)
        record["time"] = time
        return encode(record)

    asked = dated(now - timedelta(hours=1), "approval_requested", approval_id="ap-1")
    granted = dated(now - timedelta(minutes=30), "approval_granted", approval_id="ap-1")
    answer = dated(now - timedelta(minutes=20), "handoff_accepted", handoff_id="h-1")
    future = dated(datetime(2299, 1, 1, tzinfo=UTC), "approval_requested", approval_id="x")
    assert compact([asked, granted, answer, future]) == [asked, granted, answer, future]


def test_a_symlinked_control_log_is_never_read(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.log"
    ControlLog(elsewhere).append([halt("writer")])
    path = tmp_path / "control.log"
    path.symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic links"):
        ControlLog(path).read()
    with pytest.raises(OSError, match="symbolic links"):
        Tail(path)


def test_a_log_of_the_earlier_format_is_read_and_rewritten_in_frames(tmp_path: Path) -> None:
    path = tmp_path / "control.log"
    plant(path, b"".join(struct.pack(">I", len(v)) + v for v in (halt("a"), halt("b"))))
    assert targets(ControlLog(path).read()[0]) == ["a", "b"]
    tail = Tail(path)
    assert targets(tail.read()) == ["a", "b"]
    ControlLog(path).append([halt("c")])
    assert path.read_bytes()[:4] == b"HRC1"
    assert targets(ControlLog(path).read()[0]) == ["a", "b", "c"]
    assert targets(tail.read()) == ["a", "b", "c"]  # the new file, from its start
    tail.close()
