"""A poisoned spool session directory read as a source: every file that may not be read as
a segment (a name off the layout, a number out of range, a symlink, a FIFO, another user's
file, a deflate bomb, an oversized block, an unknown writer schema, a broken sync marker)
comes out as a quarantine item with its reason and never more than ``RAW_MAX`` of its
bytes; the good records around it come out once, at offsets the ledger can hold; nothing
outside the directory is read or deleted."""

from __future__ import annotations

import os
import shutil
import stat
import tracemalloc
import uuid
from pathlib import Path

import pytest

from handrail.producers.spool import Spool
from handrail.producers.spool.cursor import RAW_MAX, Item
from handrail.producers.spool.positions import REST, STRAY, position
from handrail.producers.spool.source import Source
from handrail.schemas import registry
from tests.support import containers as avro
from tests.support.samples import event_record

pytestmark = pytest.mark.timeout(60)  # a FIFO opened the old way blocks for ever
LIMIT = 2**63


def dead_session(root: Path, *seqs: int) -> Path:
    """A session directory whose recorder wrote ``seqs`` into segment 1 and died."""
    writer = Spool(root, uuid.uuid4().hex, fsync=False, segment_max_events=1_000)
    writer.append([event_record(sequence=s) for s in seqs])
    writer._own.lock.close()  # killed: its file stays as it is, its lock goes
    return writer.directory


def drain(source: Source) -> list[Item]:
    items: list[Item] = []
    while True:
        read = source.poll(1_000)
        items += read.items
        if read.drained and source.exhausted:
            return items


def sequences(items: list[Item]) -> list[int]:
    return [i.record["sequence"] for i in items if i.record is not None]


def quarantined(items: list[Item]) -> list[Item]:
    return [i for i in items if i.record is None]


def consume(source: Source, items: list[Item]) -> None:
    """The ledger and the detectors have every item: the source deletes what it read."""
    last = items[-1].offset
    source.delete(last, last)


def test_offsets_grow_are_unique_and_fit_the_ledger(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1, 2)
    avro.poison(directory, bomb_bytes=32 << 20)
    items = drain(Source(directory, None))
    offsets = [i.offset for i in items]
    assert offsets == sorted(set(offsets))
    assert max(offsets) < LIMIT
    assert all(len(i.raw) <= RAW_MAX for i in items)


def test_a_segment_number_out_of_range_is_quarantined_as_a_stray(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1, 2)
    good = (directory / "seg-00000001.avro").read_bytes()
    shutil.copy(directory / "seg-00000001.avro", directory / "seg-4294967296.avro")
    source = Source(directory, None)
    items = drain(source)
    assert sequences(items) == [1, 2]
    (stray,) = quarantined(items)
    assert stray.offset == position(1, STRAY)
    assert "'seg-4294967296.avro'" in stray.error
    assert "out of range" in stray.error
    assert stray.raw == good  # a regular file of ours: its bytes are evidence
    consume(source, items)
    assert source.removed


def test_a_second_name_for_a_segment_number_is_not_read_twice(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1, 2)
    shutil.copy(directory / "seg-00000001.avro", directory / "seg-1.avro")
    shutil.copy(directory / "seg-00000001.avro", directory / "seg-000000001.avro")
    shutil.copy(directory / "seg-00000001.avro", directory / "notes.avro")
    items = drain(Source(directory, None))
    assert sequences(items) == [1, 2]
    names = sorted(i.error.split("'")[1] for i in quarantined(items))
    assert names == ["notes.avro", "seg-000000001.avro", "seg-1.avro"]


@pytest.mark.parametrize("number", [1, 2])
def test_a_symlinked_segment_is_never_followed(tmp_path: Path, number: int) -> None:
    directory = dead_session(tmp_path, 1, 2)
    if number == 1:  # the only segment is the link
        (directory / "seg-00000001.avro").unlink()
    link = directory / f"seg-{number:08d}.avro"
    link.symlink_to("/etc/passwd")
    source = Source(directory, None)
    items = drain(source)
    assert sequences(items) == ([1, 2] if number == 2 else [])
    (stray,) = quarantined(items)
    assert "symlink" in stray.error
    assert stray.raw == b""
    consume(source, items)
    assert not os.path.lexists(link)
    assert Path("/etc/passwd").read_bytes().startswith(b"root:")


def test_a_fifo_is_a_stray_never_opened(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    os.mkfifo(directory / "seg-00000002.avro")
    items = drain(Source(directory, None))
    assert sequences(items) == [1]
    (stray,) = quarantined(items)
    assert "not a regular file" in stray.error


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_another_users_segment_is_not_read(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    theirs = directory / "seg-00000002.avro"
    shutil.copy(directory / "seg-00000001.avro", theirs)
    os.chown(theirs, 65534, 65534)
    items = drain(Source(directory, None))
    assert sequences(items) == [1]
    (refused,) = quarantined(items)
    assert refused.offset == position(2, REST)
    assert "owned by uid 65534" in refused.error
    assert refused.raw == b""


def test_a_symlinked_session_directory_is_one_stray_and_nothing_in_it_is_touched(
    tmp_path: Path,
) -> None:
    elsewhere = dead_session(tmp_path / "elsewhere", 1, 2)
    link = tmp_path / "spool" / elsewhere.name
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    source = Source(link, None)
    items = drain(source)
    (stray,) = items
    assert (stray.record, stray.raw) == (None, b"")
    assert "symlink" in stray.error
    consume(source, items)
    assert source.removed
    assert not os.path.lexists(link)
    assert (elsewhere / "seg-00000001.avro").exists()


def test_a_deflate_bomb_is_never_inflated_past_the_bound(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    current = registry().current.schema
    before, after = avro.records(2), avro.records(1)
    (directory / "seg-00000002.avro").write_bytes(
        avro.header(current, "deflate")
        + avro.block(2, avro.deflate(avro.encoded(before)))
        + avro.block(1, avro.bomb(200 << 20))
        + avro.block(1, avro.deflate(avro.encoded(after)))
    )
    tracemalloc.start()
    try:
        items = drain(Source(directory, None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak >> 20} MB at the peak for a 200 MB bomb"
    ids = [str(i.record["event_id"]) for i in items if i.record is not None]
    assert ids[1:] == [str(r["event_id"]) for r in before + after]
    (bomb,) = quarantined(items)
    assert bomb.offset == position(2, 2)
    assert "inflates past 16777216 bytes" in bomb.error
    assert len(bomb.raw) <= RAW_MAX


def test_a_block_past_the_bound_is_quarantined_with_the_rest(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    current = registry().current.schema
    oversized = avro.block(1, bytes(17 << 20))
    first = avro.block(1, avro.encoded(avro.records(1)))
    (directory / "seg-00000002.avro").write_bytes(avro.header(current) + first + oversized)
    items = drain(Source(directory, None))
    assert sequences(items) == [1, 1]
    (rest,) = quarantined(items)
    assert rest.offset == position(2, REST)
    assert "at most 16777216" in rest.error
    assert len(rest.raw) == RAW_MAX
    assert f"of {len(oversized)} bytes kept" in rest.error


def test_an_unknown_writer_schema_is_quarantined_whole(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    extra = avro.with_extra_field(registry().current.schema)
    smuggled = [{**r, "extra": "smuggled"} for r in avro.records(2)]
    data = avro.header(extra) + avro.block(2, avro.encoded(smuggled, extra))
    (directory / "seg-00000002.avro").write_bytes(data)
    items = drain(Source(directory, None))
    assert sequences(items) == [1]
    (refused,) = quarantined(items)
    assert refused.offset == position(2, REST)
    assert "an unknown writer schema" in refused.error
    assert refused.raw == data


def test_a_released_older_writer_schema_is_still_read(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    oldest = registry().versions[0]
    record = event_record(sequence=2)
    data = avro.header(oldest.schema) + avro.block(1, avro.encoded([record], oldest.schema))
    (directory / "seg-00000002.avro").write_bytes(data)
    items = drain(Source(directory, None))
    assert sequences(items) == [1, 2]
    assert items[-1].schema_version == oldest.version


def test_a_broken_sync_marker_quarantines_the_rest_with_its_reason(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    current = registry().current.schema
    three = avro.records(3)
    (directory / "seg-00000002.avro").write_bytes(
        avro.header(current)
        + avro.block(2, avro.encoded(three[:2]))
        + avro.block(1, avro.encoded(three[2:]), sync=bytes(16))
    )
    items = drain(Source(directory, None))
    assert sequences(items) == [1, 1, 2]
    (rest,) = quarantined(items)
    assert rest.offset == position(2, REST)
    assert "a sync marker out of place" in rest.error


def test_a_planted_lock_symlink_is_never_opened(tmp_path: Path) -> None:
    """Opening it the usual way would have set its target to 0600 (``/etc/passwd``, for a
    pipeline run as root); the session is then taken as live."""
    directory = dead_session(tmp_path, 1)
    target = tmp_path / "someone-elses-file"
    target.write_text("x")
    target.chmod(0o644)
    (directory / "lock").unlink()
    (directory / "lock").symlink_to(target)
    source = Source(directory, None)
    assert not source.gone()
    assert sequences(source.poll(100).items) == [1]
    assert not source.exhausted
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_another_users_session_directory_is_one_stray_left_in_place(tmp_path: Path) -> None:
    directory = dead_session(tmp_path, 1)
    os.chown(directory, 65534, 65534)
    source = Source(directory, None)
    items = drain(source)
    (stray,) = items
    assert stray.error == (
        "UnreadableSegmentError: the session directory: owned by uid 65534, not by this user"
    )
    consume(source, items)
    assert (directory / "seg-00000001.avro").exists()
    assert drain(source) == []  # quarantined once
