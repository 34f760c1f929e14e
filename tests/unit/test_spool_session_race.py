"""A session is gone exactly when its lock is free, at any age: a recorder making its
directory is never adopted by another recorder nor judged gone by the pipeline, however
long it takes (the race a 5-second grace for young directories used to hide)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from handrail.files import FileModes, try_lock
from handrail.producers.spool import ADOPTED, Spool, read_all
from handrail.producers.spool.layout import session_of
from handrail.producers.spool.source import Source
from tests.support.samples import event_record


@dataclass(frozen=True, slots=True)
class Interleaved(FileModes):
    """File modes that run ``then`` right after making a directory under ``root``: another
    process acting while this recorder is between making its directory and locking it."""

    root: Path | None = None
    then: Callable[[], None] | None = None

    def directory(self, path: Path) -> Path:
        made = FileModes.directory(self, path)
        if path.parent == self.root and self.then is not None:
            self.then()
        return made


def sessions(root: Path) -> list[Path]:
    """The directories the pipeline takes for sessions (named ``<start-ns>-<session>``)."""
    return sorted(p for p in root.iterdir() if p.name[:1].isdigit())


def seqs(*records: int) -> list[object]:
    return [event_record(sequence=s) for s in records]


def test_a_recorder_starting_meanwhile_does_not_adopt_a_session_being_made(
    tmp_path: Path,
) -> None:
    others: list[Spool] = []

    def another_recorder_starts() -> None:
        if not others:
            others.append(Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=9))

    modes = Interleaved(root=tmp_path, then=another_recorder_starts)
    writer = Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=9, modes=modes)
    writer.append(seqs(1, 2))
    (other,) = others
    other.close()
    assert not (writer.directory / ADOPTED).exists()
    assert not Source(writer.directory, None).gone()  # its writer lives and holds the lock
    writer.append(seqs(3))
    writer.close()
    assert [r["sequence"] for r in read_all(tmp_path)] == [1, 2, 3]


def test_a_session_made_late_is_never_judged_gone_while_its_writer_lives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool could not be made at start (its root was a file for a minute): the
    directory is made at the first write, under a name a minute old."""
    root = tmp_path / "spool"
    root.write_text("not a directory yet")
    probed: list[bool] = []

    def the_pipeline_polls() -> None:
        probed.extend(Source(d, None).gone() for d in sessions(root))

    modes = Interleaved(root=root, then=the_pipeline_polls)
    with monkeypatch.context() as m:
        m.setattr(time, "time_ns", lambda: 1_000_000_000 * (int(time.time()) - 60))
        writer = Spool(root, uuid.uuid4().hex, fsync=False, segment_max_events=9, modes=modes)
    root.unlink()
    writer.append(seqs(1, 2))
    assert True not in probed
    source = Source(writer.directory, None)
    got = [i.record["sequence"] for i in source.poll(100).items if i.record]
    writer.append(seqs(3))
    writer.close()  # the writer leaves: now it is gone, and segment 1 final
    assert source.gone()
    got += [i.record["sequence"] for i in source.poll(100).items if i.record]
    assert got == [1, 2, 3]
    assert source.exhausted


def test_a_directory_left_half_made_is_removed_by_the_next_recorder(tmp_path: Path) -> None:
    """A recorder killed while making its directory leaves it under its pending name, with
    no segment: no reader takes it for a session, and the next recorder removes it (one
    still being made, its lock held, is left alone)."""
    first = Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=9)
    name = first.directory.name
    first.close()
    dead, live = tmp_path / f".new-{name}", tmp_path / f".new-9{name[1:]}"
    for directory in (dead, live):
        directory.mkdir()
        (directory / "lock").touch()
    with (live / "lock").open("a") as held:
        assert try_lock(held)
        Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=9).close()
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    assert session_of(dead.name) is None


def test_a_session_id_off_the_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lowercase hex"):
        Spool(tmp_path, "../elsewhere", fsync=False, segment_max_events=9)
