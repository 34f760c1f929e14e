"""The journal: committed keys survive a crash, a torn last entry is dropped, compaction
and replay are idempotent, one process at a time; a journal of the earlier format is
upgraded without losing state."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import orjson
import pytest

from handrail.embedded.errors import PipelineBusyError
from handrail.embedded.journal import Journal, decode_entries, encode_entry
from handrail.frames import Frame


def open_journal(path: Path, compact_bytes: int = 1 << 20) -> Journal:
    return Journal(path, "j", fsync=False, compact_bytes=compact_bytes)


def test_committed_keys_come_back_uncommitted_ones_do_not(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    state = journal.map("state")
    state.update(a={"n": 1}, b={"n": 2})
    journal.commit({"state": ["a", "b"]})
    state["a"] = {"n": 10}
    del state["b"]
    journal.commit({"state": ["a", "b"]})
    state["c"] = {"n": 3}  # never committed: the process dies now
    journal.close()
    again = open_journal(tmp_path)
    assert again.maps == {"state": {"a": {"n": 10}}}
    assert again.replayed == 2
    again.close()


def test_a_torn_last_entry_is_dropped_and_the_log_goes_on_after_it(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    journal.map("m")["k"] = 1
    journal.commit({"m": ["k"]})
    journal.close()
    with (tmp_path / "j.log").open("ab") as log:
        log.write(encode_entry({"m": {"k": 2}})[:-3])  # killed mid-write
    again = open_journal(tmp_path)
    assert again.maps == {"m": {"k": 1}}
    again.map("m")["k"] = 3
    again.commit({"m": ["k"]})
    again.close()
    assert open_journal(tmp_path).maps == {"m": {"k": 3}}


def test_an_entry_with_a_bad_checksum_ends_the_log() -> None:
    good, bad = encode_entry({"m": {"a": 1}}), bytearray(encode_entry({"m": {"b": 2}}))
    bad[-2] ^= 0x01
    entries, valid = decode_entries(good + bytes(bad) + encode_entry({"m": {"c": 3}}))
    assert (entries, valid) == ([{"m": {"a": 1}}], len(good))


def test_the_log_outgrows_its_limit_and_becomes_a_snapshot(tmp_path: Path) -> None:
    journal = open_journal(tmp_path, compact_bytes=200)
    values = journal.map("m")
    for i in range(30):
        values[f"k{i % 4}"] = {"i": i}
        journal.commit({"m": [f"k{i % 4}"]})
    assert (tmp_path / "j.snapshot").exists()
    assert (tmp_path / "j.log").stat().st_size < 200
    expected = dict(values)
    journal.close()
    assert open_journal(tmp_path).maps == {"m": expected}


def test_a_crash_between_snapshot_and_truncation_replays_harmlessly(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    values = journal.map("m")
    for i in range(10):
        values[f"k{i % 3}"] = i
        journal.commit({"m": [f"k{i % 3}"]})
    del values["k0"]
    journal.commit({"m": ["k0"]})
    log = (tmp_path / "j.log").read_bytes()
    journal.compact()
    journal.close()
    (tmp_path / "j.log").write_bytes(log)  # the truncation never happened
    assert open_journal(tmp_path).maps == {"m": {"k1": 7, "k2": 8}}


def test_one_process_at_a_time(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    with pytest.raises(PipelineBusyError, match="another `handrail run`"):
        open_journal(tmp_path)
    journal.close()
    open_journal(tmp_path).close()


def old_entry(entry: dict[str, dict[str, object]]) -> bytes:
    """An entry as the journal wrote it before its frames: length, crc32, JSON."""
    body = orjson.dumps(entry)
    return struct.pack(">II", len(body), zlib.crc32(body)) + body


def test_a_journal_of_the_earlier_format_is_read_and_rewritten_in_frames(
    tmp_path: Path,
) -> None:
    """Upgrading `handrail run` loses no state: the old log is replayed over the snapshot
    (a torn last entry dropped as before), compacted into a new snapshot, and what is
    committed after it is in frames."""
    (tmp_path / "j.snapshot").write_bytes(orjson.dumps({"m": {"a": 1, "gone": 0}}))
    old = old_entry({"m": {"b": 2}}) + old_entry({"m": {"gone": None}, "n": {"x": [1]}})
    (tmp_path / "j.log").write_bytes(old + old_entry({"m": {"torn": 1}})[:-2])
    journal = open_journal(tmp_path)
    state = {"m": {"a": 1, "b": 2}, "n": {"x": [1]}}
    assert journal.maps == state
    assert journal.replayed == 2
    assert (tmp_path / "j.log").read_bytes() == b""
    assert orjson.loads((tmp_path / "j.snapshot").read_bytes()) == state
    journal.map("m")["c"] = 3
    journal.commit({"m": ["c"]})
    journal.close()
    assert (tmp_path / "j.log").read_bytes()[:4] == b"HRJ1"
    again = open_journal(tmp_path)
    assert again.maps == {"m": {"a": 1, "b": 2, "c": 3}, "n": {"x": [1]}}
    assert again.replayed == 1
    again.close()


def test_a_crash_while_upgrading_replays_the_old_log_harmlessly(tmp_path: Path) -> None:
    old = old_entry({"m": {"a": 1}}) + old_entry({"m": {"a": None, "b": 2}})
    (tmp_path / "j.log").write_bytes(old)
    open_journal(tmp_path).close()
    (tmp_path / "j.log").write_bytes(old)  # the snapshot was written, the truncation not
    assert open_journal(tmp_path).maps == {"m": {"b": 2}}


def test_the_journal_and_the_control_log_never_read_each_others_frames() -> None:
    from handrail.control.log import FRAMES as CONTROL

    journal = encode_entry({"m": {"a": 1}})
    assert decode_entries(CONTROL.encode(journal[12:])) == ([], 0)
    assert not any(isinstance(p, Frame) for p in CONTROL.scan(journal, settled=True))
