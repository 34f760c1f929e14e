"""The journal: committed keys survive a crash, a torn last entry is dropped, compaction
and replay are idempotent, one process at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from handrail.embedded.errors import PipelineBusyError
from handrail.embedded.journal import Journal, decode_entries, encode_entry


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
