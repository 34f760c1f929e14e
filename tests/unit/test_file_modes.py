"""Private by default: every directory handrail creates is 0700 and every file 0600 (with
``files.group``: 0750 and 0640, given to the group), whatever the process's umask;
directories and files an earlier version left open are tightened when opened again."""

from __future__ import annotations

import grp
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handrail.cli.app import app
from handrail.control.log import ControlLog
from handrail.embedded.journal import Journal
from handrail.files import PRIVATE, FileGroupError, FileModes, locked, try_lock, unlock
from handrail.producers import Recorder
from handrail.producers.spool import ADOPTED, Spool, read_all
from handrail.producers.spool.source import Source
from handrail.settings import AgentIdentity, FileSettings, Settings, SpoolSettings
from tests.support.groups import team_group


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A umask that hides nothing: every mode seen comes from handrail itself."""
    before = os.umask(0)
    yield
    os.umask(before)


@pytest.fixture(params=[None, team_group()], ids=["private", "group"])
def files(request: pytest.FixtureRequest) -> FileSettings:
    return FileSettings(group=request.param)


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every directory and file under ``root`` (itself included): is a directory, mode, gid."""
    found = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        found[str(path.relative_to(root))] = (path.is_dir(), stat.S_IMODE(st.st_mode), st.st_gid)
    return found


def assert_modes(root: Path, modes: FileModes) -> None:
    wrong = {
        name: oct(mode)
        for name, (is_dir, mode, gid) in tree(root).items()
        if mode != (modes.directory_mode if is_dir else modes.file_mode)
        or (modes.gid is not None and gid != modes.gid)
    }
    assert not wrong, f"not {oct(modes.directory_mode)}/{oct(modes.file_mode)}: {wrong}"


def settings(base: Path, files: FileSettings, **spool: object) -> Settings:
    return Settings(
        spool=SpoolSettings(
            dir=base / "spool",
            control_log=base / "control.log",
            **spool,  # type: ignore[arg-type]
        ),
        files=files,
    )


def test_everything_the_sdk_the_control_log_and_the_journal_create_has_its_mode(
    tmp_path: Path, files: FileSettings
) -> None:
    base, modes = tmp_path / ".handrail", FileModes.of(files)
    s = settings(base, files, control_log_max_bytes=400)  # the SDK compacts the control log
    first = Recorder(s, AgentIdentity(name="summarizer"))
    first.decision("db.write", "looked fine")
    for n in range(8):
        first.approval_requested(f"a-{n}", "refund", "over the limit")  # -> the control log
    assert first.flush(10)
    first.close(1)  # no Kafka: its segments stay in the spool for `handrail run`
    second = Recorder(s, AgentIdentity(name="summarizer"))  # adopts the first's session
    second.heartbeat()
    assert second.flush(10)
    assert_modes(base, modes)  # the SDK's: sessions, segments, locks, marker, control log

    records = list(read_all(base / "spool"))
    spool = Spool(base / "spool", uuid.uuid4().hex, fsync=True, segment_max_events=5, modes=modes)
    segment = spool.seal(records[:3])
    spool.confirm(segment, 0)  # -> a cursor file
    spool.reject(records[0], "too large")  # -> rejected.jsonl
    spool.append(records)
    spool.flush()
    lockless = modes.directory(base / "spool" / "0-lockless")
    source = Source(lockless, None, modes)
    assert source.gone()  # it made the lock file
    journal = Journal(base / "checkpoints", "pipeline", fsync=True, compact_bytes=1, modes=modes)
    journal.map("state")["k"] = {"n": 1}
    journal.commit({"state": ["k"]})  # past compact_bytes: a snapshot too

    made = {name.split("/")[-1] for name in tree(base)}
    assert {"lock", ADOPTED, "rejected.jsonl", "control.log", "pipeline.snapshot"} <= made
    assert any(name.endswith(".cursor") for name in made)
    assert not any(name.endswith(".tmp") for name in made)
    assert len(ControlLog(s.spool.control_log).read()[0]) == 8  # compacted, all still count
    assert_modes(base, modes)
    for closing in (second.close, spool.close, source.close, journal.close):
        closing()


def test_what_an_earlier_version_left_open_is_tightened(
    tmp_path: Path, files: FileSettings
) -> None:
    base, modes = tmp_path / ".handrail", FileModes.of(files)
    old_session = base / "spool" / f"{1:020d}-{'0' * 31}1"
    old_session.mkdir(parents=True, mode=0o755)
    (base / "checkpoints").mkdir(mode=0o755)
    for path in (base, base / "spool", old_session, base / "checkpoints"):
        path.chmod(0o755)
    for path in (old_session / "lock", base / "control.log", base / "checkpoints" / "j.log"):
        path.write_bytes(b"")
        path.chmod(0o644)

    with Recorder(settings(base, files), AgentIdentity(name="a")) as rec:
        rec.approval_requested("a-1", "refund", "over the limit")
        assert rec.flush(10)
        opened = tree(base)  # before close removes the adopted, empty session
    assert opened["."][1] == 0o755  # a parent of the spool: perhaps not handrail's, left alone
    old = old_session.relative_to(base)
    assert str(old / ADOPTED) in opened
    dirs, files_ = modes.directory_mode, modes.file_mode
    want = {"spool": dirs, str(old): dirs, str(old / "lock"): files_, "control.log": files_}
    assert {n: oct(opened[n][1]) for n in want} == {n: oct(m) for n, m in want.items()}
    assert modes.gid is None or all(opened[n][2] == modes.gid for n in want)
    Journal(base / "checkpoints", "j", fsync=False, modes=modes).close()
    assert stat.S_IMODE((base / "checkpoints").stat().st_mode) == modes.directory_mode
    assert stat.S_IMODE((base / "checkpoints" / "j.log").stat().st_mode) == modes.file_mode


def test_files_are_created_0600_then_given_to_the_group_and_replaced_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes = FileModes.of(FileSettings(group=team_group()))
    created: list[int] = []
    real_open = os.open

    def watched(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        if flags & os.O_CREAT:
            created.append(mode)
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", watched)
    with modes.open(tmp_path / "f", "ab") as handle:
        handle.write(b"x")
    modes.write(tmp_path / "w", "data")
    modes.write(tmp_path / "w", b"again", fsync=False)
    monkeypatch.undo()
    assert created == [0o600] * 3  # nobody else could open them before they were the group's
    assert (tmp_path / "w").read_bytes() == b"again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "w"]  # no temporary left
    for name in ("f", "w"):
        st = (tmp_path / name).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, modes.gid)


def test_parents_are_made_with_the_mode_and_existing_ones_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir(mode=0o755)
    (tmp_path / "mine").chmod(0o755)
    PRIVATE.parents(tmp_path / "mine" / "a" / "b" / "file")
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o755
    for path in (tmp_path / "mine" / "a", tmp_path / "mine" / "a" / "b"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert not (tmp_path / "mine" / "a" / "b" / "file").exists()


def test_the_umask_of_handrails_own_processes(tmp_path: Path) -> None:
    PRIVATE.restrict_umask()
    (tmp_path / "by-a-library").write_bytes(b"")
    assert stat.S_IMODE((tmp_path / "by-a-library").stat().st_mode) == 0o600
    FileModes(gid=os.getegid()).restrict_umask()
    assert os.umask(0) == 0o027


def test_an_unknown_group_is_a_clear_error_at_start(tmp_path: Path) -> None:
    files = FileSettings(group="no-such-group-here")
    with pytest.raises(FileGroupError, match="no Unix group 'no-such-group-here'"):
        FileModes.of(files)
    s = settings(tmp_path, files)
    with pytest.raises(FileGroupError):
        Recorder(s, AgentIdentity(name="a"))
    assert not (tmp_path / "spool").exists()
    env = {"HANDRAIL_FILES__GROUP": "no-such-group-here"}
    result = CliRunner().invoke(app, ["spool", "show", "--spool-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2
    assert "no Unix group 'no-such-group-here'" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may give files to any group")
def test_a_group_this_user_is_not_in_is_refused() -> None:
    mine = {os.getegid(), *os.getgroups()}
    other = next((g for g in grp.getgrall() if g.gr_gid not in mine), None)
    if other is None:
        pytest.skip("no group this user is not in")
    with pytest.raises(FileGroupError, match="not in the group"):
        FileModes.of(FileSettings(group=other.gr_name))


def test_one_lock_helper_for_every_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.touch()
    with path.open("a") as first, path.open("a") as second, path.open("a") as third:
        assert try_lock(first)
        assert not try_lock(second)  # held: no wait, and the handle stays open
        assert not try_lock(second, shared=True)
        unlock(first)
        assert try_lock(second, shared=True)
        assert try_lock(third, shared=True)  # readers share
        assert not try_lock(first)
        unlock(second)
        unlock(third)
        with locked(first):
            assert not try_lock(second)
        assert try_lock(second)
