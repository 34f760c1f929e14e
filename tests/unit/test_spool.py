"""The spool on its own: order, cursors, adoption of a dead session, a torn last block."""

from __future__ import annotations

import uuid
from pathlib import Path

from handrail.producers.spool import Spool, read_all
from handrail.producers.spool.source import Source
from handrail.schemas import EventRecord
from tests.support.samples import event_record


def record(seq: int) -> EventRecord:
    return event_record(sequence=seq)


def seqs(records: list[EventRecord]) -> list[int]:
    return [r["sequence"] for r in records]


def new(root: Path, max_events: int = 4) -> Spool:
    return Spool(root, uuid.uuid4().hex, fsync=False, segment_max_events=max_events)


def test_fifo_across_segments_and_seal_goes_first(tmp_path: Path) -> None:
    spool = new(tmp_path)
    spool.append([record(i) for i in range(3, 10)])
    sealed = spool.seal([record(1), record(2)])
    assert spool.head() is sealed
    order = []
    while (segment := spool.head()) is not None:
        for i in range(len(segment.records)):
            order.append(segment.records[i]["sequence"])
            spool.confirm(segment, i)
    assert order == list(range(1, 10))
    assert spool.is_empty()
    spool.close()
    assert not list(tmp_path.iterdir())


def test_cursor_survives_a_crash_and_a_dead_session_is_adopted(tmp_path: Path) -> None:
    dead = new(tmp_path, max_events=100)
    dead.append([record(i) for i in range(1, 8)])
    segment = dead.head()
    assert segment is not None
    for i in (0, 1, 2, 4):  # 4 is confirmed out of order: the cursor stops at 3
        dead.confirm(segment, i)
    dead._own.lock.close()  # the process dies: its lock goes with it

    heir = new(tmp_path)
    adopted = heir.head()
    assert adopted is not None
    assert adopted.cursor == 3
    assert seqs(adopted.records[adopted.cursor :]) == [4, 5, 6, 7]
    assert seqs(list(read_all(tmp_path))) == [4, 5, 6, 7]
    for i in range(adopted.cursor, len(adopted.records)):
        heir.confirm(adopted, i)
    assert heir.is_empty()
    heir.close()
    assert not list(tmp_path.iterdir()), "the adopted directory is removed once replayed"


def test_a_live_session_is_not_adopted(tmp_path: Path) -> None:
    live = new(tmp_path)
    live.append([record(1)])
    other = new(tmp_path)
    assert other.head() is None
    assert live.head() is not None


def test_a_torn_last_block_keeps_what_was_complete(tmp_path: Path) -> None:
    spool = new(tmp_path, max_events=100)
    spool.append([record(1), record(2)])
    spool.append([record(3)])
    spool._close_tail()
    [path] = list(tmp_path.rglob("seg-*.avro"))
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # a crash in the middle of writing the last block
    assert seqs(list(read_all(tmp_path))) == [1, 2]


def test_planted_symlinks_are_never_followed_at_adoption(tmp_path: Path) -> None:
    """A dead session's ``lock`` and ``adopted`` planted as symlinks, a symlinked segment and
    a session directory that is a symlink: adoption opens, chmods and truncates nothing
    they point at, and reads no event through them (as root, the old spool made the target
    of a ``lock`` link 0600 and wrote over the target of an ``adopted`` one)."""
    spool, elsewhere = tmp_path / "spool", tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim, kept = elsewhere / "victim", elsewhere / "kept"
    victim.write_text("precious")
    kept.write_text("precious")
    victim.chmod(0o644)
    dead = new(spool, max_events=100)
    dead.append([record(1)])
    dead._close_tail()
    dead._own.lock.close()
    session = dead.directory
    (session / "lock").unlink()
    (session / "lock").symlink_to(victim)
    (session / "adopted").symlink_to(kept)
    [segment] = session.glob("seg-*.avro")
    (session / "seg-00000002.avro").symlink_to(segment)
    foreign = elsewhere / "session"
    foreign.mkdir()
    segment.rename(foreign / segment.name)
    (spool / "99999999999999999999-linked").symlink_to(foreign, target_is_directory=True)

    heir = new(spool)
    assert heir.head() is None
    assert list(read_all(spool)) == []
    heir.close()
    assert (victim.read_text(), victim.stat().st_mode & 0o777) == ("precious", 0o644)
    assert kept.read_text() == "precious"


def test_a_big_append_is_written_in_blocks_the_pipeline_reads(tmp_path: Path) -> None:
    """20 MB in one append: written as blocks within the readers' default bound, so the
    embedded pipeline reads every event (it used to quarantine the one 20 MB block)."""
    big = [record(i) for i in range(200)]
    for r in big:
        r["labels"] = {"note": "x" * 100_000}
    spool = new(tmp_path, max_events=1_000)
    spool.append(big)
    items = Source(spool.directory, None).poll(1_000).items
    assert [i.error for i in items if i.record is None] == []
    assert [i.record["sequence"] for i in items if i.record] == list(range(200))
    spool.close()
    assert seqs(list(read_all(tmp_path))) == list(range(200))


def test_a_cursor_that_is_not_a_count_replays_its_segment(tmp_path: Path) -> None:
    """A cursor file garbled, or planted as a symlink, counts as nothing confirmed: the
    segment is replayed whole (consumers drop repeats by event id) instead of failing."""
    spool = new(tmp_path, max_events=2)
    spool.append([record(1), record(2), record(3), record(4)])
    spool.close()
    first, second = sorted(tmp_path.rglob("seg-*.avro"))
    first.with_suffix(".cursor").write_text("garbage")
    (tmp_path / "elsewhere").write_text("1")
    second.with_suffix(".cursor").symlink_to(tmp_path / "elsewhere")
    assert seqs(list(read_all(tmp_path))) == [1, 2, 3, 4]
    heir = new(tmp_path)
    segment = heir.head()
    assert segment is not None
    assert (seqs(segment.records), segment.cursor) == ([1, 2], 0)
    heir.close()


def test_a_session_that_cannot_be_marked_adopted_does_not_stop_the_others(
    tmp_path: Path,
) -> None:
    """Two dead sessions, the older with ``adopted`` planted as a symlink: it is left
    unadopted (its lock free for a reader), and the younger one is still adopted and
    replayed (the old spool gave up adopting at the first failure)."""
    older, younger = new(tmp_path), new(tmp_path)
    older.append([record(1)])
    younger.append([record(2)])
    for dead in (older, younger):
        dead._close_tail()
        dead._own.lock.close()
    (older.directory / "adopted").symlink_to(tmp_path / "elsewhere")
    heir = new(tmp_path)
    segment = heir.head()
    assert segment is not None
    assert seqs(segment.records) == [2]
    assert not (tmp_path / "elsewhere").exists()
    heir.close()
