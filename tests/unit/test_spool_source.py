"""A spool session directory read as a source: whole blocks only, every record once, in
order across segments, finished segments only; deletion never outruns the ledger, the
detectors or a live writer."""

from __future__ import annotations

import fcntl
import time
import uuid
from pathlib import Path

from handrail.producers.spool import ADOPTED, Spool
from handrail.producers.spool.positions import REST, position
from handrail.producers.spool.source import Source
from tests.support.samples import event_record


def spool(root: Path, max_events: int = 100) -> Spool:
    return Spool(root, uuid.uuid4().hex, fsync=False, segment_max_events=max_events)


def append(writer: Spool, *seqs: int) -> None:
    writer.append([event_record(sequence=s) for s in seqs])


def seqs(source: Source, limit: int = 1_000) -> list[int]:
    return [i.record["sequence"] for i in source.poll(limit).items if i.record is not None]


def die(writer: Spool) -> None:
    """The writer's process dies: the open file stays as it is, the lock goes."""
    writer._own.lock.close()


def test_a_live_session_is_read_as_it_grows_each_record_once(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    source = Source(writer.directory, None)
    assert seqs(source) == []
    append(writer, 1, 2, 3)
    assert seqs(source) == [1, 2, 3]
    assert seqs(source) == []
    append(writer, 4)
    items = source.poll(100).items
    assert [(i.offset, i.record and i.record["sequence"]) for i in items] == [(position(1, 3), 4)]


def test_a_segment_the_writer_closes_after_a_read_is_finished_before_the_next(
    tmp_path: Path,
) -> None:
    writer = spool(tmp_path, max_events=3)
    source = Source(writer.directory, None)
    append(writer, 1, 2)
    assert seqs(source) == [1, 2]
    append(writer, 3, 4, 5)  # 3 closes segment 1 after the read; 4, 5 open segment 2
    items = source.poll(100).items
    assert [i.offset for i in items] == [position(1, 2), position(2, 0), position(2, 1)]


def test_bytes_written_piecemeal_come_out_as_whole_blocks(tmp_path: Path) -> None:
    writer = spool(tmp_path / "a")
    for block in ([1, 2], [3], [4, 5, 6]):
        append(writer, *block)
    writer.close()
    (done,) = (tmp_path / "a").glob("*/seg-*.avro")
    data = done.read_bytes()
    live = tmp_path / "b" / f"{time.time_ns():020d}-{uuid.uuid4().hex}"
    live.mkdir(parents=True)
    lock = (live / "lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # a live writer
    source, got = Source(live, None), []
    target = live / "seg-00000001.avro"
    for n in range(0, len(data) + 1, 37):
        target.write_bytes(data[:n])
        got += seqs(source)
    target.write_bytes(data)
    got += seqs(source)
    assert got == [1, 2, 3, 4, 5, 6]
    lock.close()


def test_reading_resumes_after_a_position(tmp_path: Path) -> None:
    writer = spool(tmp_path, max_events=2)
    append(writer, 1, 2, 3, 4, 5)
    assert seqs(Source(writer.directory, position(1, 0))) == [2, 3, 4, 5]
    assert seqs(Source(writer.directory, position(2, 1))) == [5]
    assert seqs(Source(writer.directory, position(2, REST))) == [5]


def test_the_limit_leaves_the_rest_for_the_next_poll(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    for s in range(1, 6):
        append(writer, s)
    source = Source(writer.directory, None)
    first = source.poll(2)
    assert not first.drained
    assert [i.record and i.record["sequence"] for i in first.items] == [1, 2]
    rest = source.poll(100)
    assert rest.drained
    assert [i.record and i.record["sequence"] for i in rest.items] == [3, 4, 5]


def test_the_newest_segment_of_a_live_session_is_never_deleted(tmp_path: Path) -> None:
    writer = spool(tmp_path, max_events=2)
    append(writer, 1, 2, 3)
    source = Source(writer.directory, None)
    items = source.poll(100).items
    last = items[-1].offset
    assert source.delete(ingested=position(1, 0), detected=last) == 0  # the ledger is behind
    assert source.delete(ingested=last, detected=position(1, 0)) == 0  # the detectors are
    assert source.delete(ingested=last, detected=last) == 1  # segment 1 only: 2 is live
    assert not source.gone()
    assert sorted(p.name for p in writer.directory.glob("seg-*")) == ["seg-00000002.avro"]
    append(writer, 4)
    assert seqs(source) == [4]


def test_a_dead_session_is_finished_its_torn_tail_quarantined_then_removed(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    append(writer, 1, 2)
    (segment,) = writer.directory.glob("seg-*.avro")
    with segment.open("ab") as handle:
        handle.write(b"\x04\x80\x01half a block")  # killed mid-write
    die(writer)
    source = Source(writer.directory, None)
    items = source.poll(100).items
    assert [i.record["sequence"] for i in items if i.record] == [1, 2]
    tail = items[-1]
    assert (tail.offset, tail.record, tail.raw[:2]) == (position(1, REST), None, b"\x04\x80")
    assert "torn" in tail.error
    assert source.exhausted
    source.delete(ingested=tail.offset, detected=tail.offset)
    assert source.removed
    assert list(tmp_path.iterdir()) == []


def test_a_dead_session_keeps_its_lock_with_the_pipeline(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    append(writer, 1)
    die(writer)
    source = Source(writer.directory, None)
    assert source.gone()
    heir = spool(tmp_path)  # a recorder starting now cannot adopt it
    assert heir._adopted == []
    heir.close()
    source.close()


def test_an_adopted_directory_is_finished_though_its_adopter_holds_the_lock(
    tmp_path: Path,
) -> None:
    writer = spool(tmp_path)
    append(writer, 1)
    die(writer)
    heir = spool(tmp_path)  # adopts it (and never writes there)
    assert (writer.directory / ADOPTED).read_text() == heir.directory.name
    source = Source(writer.directory, None)
    assert source.gone()
    assert seqs(source) == [1]
    assert source.exhausted
    heir.close()
