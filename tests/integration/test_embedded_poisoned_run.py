"""``handrail run`` (a real process, a real chdb ledger) over a poisoned spool: a segment
copied under a number out of range, second names for a segment, a name off the layout, a
segment symlinked to ``/etc/passwd``, a 200 MB deflate bomb between good blocks, a writer
schema with one more field, a broken sync marker, a FIFO. Poisoned before the start and
again just before a ``kill -9`` and a restart: the pipeline keeps running, each bad file or
block is quarantined once with its reason (and never ``/etc/passwd``), every good event
reaches the ledger once, the spool is consumed, ``verify`` is clean."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.producers import Recorder
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.integration.test_embedded_run import Run, ledger_rows, wait_until
from tests.support.containers import poison
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(400)
REASONS = [
    "'notes.avro': a name off the spool's layout",
    "'seg-00000002.avro': a symlink (not followed)",
    "'seg-00000006.avro': not a regular file",
    "'seg-1.avro': a segment number out of range or not written as the spool writes it",
    "'seg-4294967296.avro': a segment number out of range",
    "a block that inflates past 16777216 bytes",
    "an unknown writer schema",
    "a sync marker out of place",
]


def recorded_session(tmp: Path) -> tuple[Path, list[str]]:
    """A recorder's session directory (closed) and the ids of its events."""
    settings = Settings(spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"))
    spool = tmp / "spool"
    before = set(spool.iterdir()) if spool.exists() else set()
    with Recorder(settings, AgentIdentity(name="agent", owner="team")) as rec:
        ids = [rec.heartbeat(interval_s=600).event_id for _ in range(10)]
    (directory,) = set(spool.iterdir()) - before
    return directory, ids


def topic(directory: Path) -> str:
    return f"spool:{directory.name.split('-', 1)[1]}"


def poisoned_session(tmp: Path) -> tuple[str, list[str]]:
    """A recorder's session poisoned every way; its topic and its good events. It is
    poisoned before it enters the spool: a running pipeline reads a closed session at once."""
    directory, ids = recorded_session(tmp / "staging")
    good = poison(directory)
    (tmp / "spool").mkdir(exist_ok=True)
    directory = directory.rename(tmp / "spool" / directory.name)
    return topic(directory), ids + [i for v in good.values() for i in v]


def quarantine(run: Run) -> list[dict[str, Any]]:
    return run.query("SELECT topic, offset, error_type, error, raw_hex FROM quarantine")


def consumed(run: Run, topics: list[str], ids: list[str], bad: int = len(REASONS)) -> bool:
    """The ledger has every good event and a quarantine row per bad file of each topic,
    and the spool is empty."""
    events = run.query("SELECT count() AS n FROM events WHERE startsWith(topic, 'spool:')")
    rows = Counter(r["topic"] for r in quarantine(run))
    spool = list((run.tmp / "spool").iterdir())
    return events[0]["n"] >= len(ids) and all(rows[t] >= bad for t in topics) and not spool


def test_a_poisoned_spool_is_quarantined_and_the_run_goes_on(
    tmp_path: Path, receiver: Receiver
) -> None:
    first, ids = poisoned_session(tmp_path)
    run = Run(tmp_path, receiver).start()  # the old reader died here, at every start
    try:
        wait_until(run, "the first session", lambda: consumed(run, [first], ids))
        second, more = poisoned_session(tmp_path)
        run.kill()
        run.start()
        ids += more
        wait_until(run, "both sessions", lambda: consumed(run, [first, second], ids))
        rows = quarantine(run)
    finally:
        run.stop()
    assert run.process is not None
    assert run.process.returncode == 0, run.log()[-3000:]
    spool = [str(r["event_id"]) for r in ledger_rows(run) if r["topic"].startswith("spool:")]
    assert Counter(spool) == Counter(ids), "a good event lost or repeated"
    assert Counter(r["topic"] for r in rows) == {first: len(REASONS), second: len(REASONS)}
    for topic in (first, second):
        errors = sorted(r["error"] for r in rows if r["topic"] == topic)
        assert all(any(reason in e for e in errors) for reason in REASONS), errors
    passwd = Path("/etc/passwd").read_bytes()[:32].hex()
    assert not any(passwd in r["raw_hex"] for r in rows), "a symlink's target was read"
    assert all(len(r["raw_hex"]) <= 2 * (64 << 10) for r in rows)


def test_a_segment_number_out_of_range_neither_stops_the_run_nor_breaks_verify(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The old reader gave the copy offsets past 2**64: ``handrail run`` died at every
    start, and the checkpoint it wrote first made ``verify`` report deleted rows. That
    checkpoint, as the old run left it, is replaced by the first batch of this one."""
    directory, ids = recorded_session(tmp_path)
    shutil.copy(directory / "seg-00000001.avro", directory / "seg-4294967296.avro")
    left = Checkpoints(tmp_path / "checkpoints")
    left.begin(topic(directory), 0, -1)
    left.write(topic(directory), 0, 4294967296 << 32 | 9, "ac" * 32)  # 2**64 + 9
    run = Run(tmp_path, receiver).start()
    try:
        wait_until(run, "the session", lambda: consumed(run, [topic(directory)], ids, bad=1))
        (row,) = quarantine(run)
    finally:
        run.stop()
    assert "'seg-4294967296.avro': a segment number out of range" in row["error"]
    spool = [str(r["event_id"]) for r in ledger_rows(run) if r["topic"].startswith("spool:")]
    assert Counter(spool) == Counter(ids)


@pytest.fixture
def receiver() -> Any:
    with Receiver() as rx:
        yield rx
