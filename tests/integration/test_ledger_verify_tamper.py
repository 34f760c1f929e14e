"""``verify`` on real ledgers (chdb, no Kafka) that were tampered with: a quarantine row
edited, deleted or inserted, two tamperings in one chain (each named, with the count, by
``handrail ledger verify`` too), a ledger written before quarantine rows were chained, and
a chain far longer than a page read page by page, its breaks named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.verify import verify
from handrail.settings import LedgerSettings
from tests.support.ledger_inserts import insert
from tests.support.verify_ledgers import TOPIC, check, cli, even_ledger, message, run, write

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def ledger(chdb_ledger: Any, tmp_path: Path) -> tuple[Any, LedgerSettings]:
    """A ledger of 60 rows at even offsets (quarantine rows among them), default checkpoint
    setting: the checkpoints beside it."""
    return even_ledger(chdb_ledger, tmp_path)


def first_quarantined(client: Any, after: int = 0) -> int:
    return int(
        client.query(
            "SELECT min(offset) FROM quarantine WHERE offset > {a:UInt64}", parameters={"a": after}
        ).result_rows[0][0]
    )


QUARANTINE_COPY = (
    "INSERT INTO quarantine (topic, partition, offset, key_hex, raw_hex, error_type, error, "
    "prev_hash, row_hash) SELECT topic, partition, offset + 1, key_hex, raw_hex, error_type, "
    "error, {hashes} FROM quarantine WHERE offset = {o}"
)


@pytest.mark.parametrize(
    ("tamper", "at", "expect"),
    [
        (
            "ALTER TABLE quarantine UPDATE error = 'nothing wrong' WHERE offset = {o}",
            0,
            "quarantine row was edited",
        ),
        (
            "ALTER TABLE quarantine UPDATE raw_hex = '00' WHERE offset = {o}",
            0,
            "quarantine row was edited",
        ),
        ("ALTER TABLE quarantine DELETE WHERE offset = {o}", 2, "a row before it was deleted"),
        (QUARANTINE_COPY.replace("{hashes}", "'', ''"), 1, "quarantine row without a hash"),
        (QUARANTINE_COPY.replace("{hashes}", "prev_hash, row_hash"), 1, "follows the same row"),
    ],
    ids=["edit-error", "edit-raw", "delete", "insert-unhashed", "insert-copy"],
)
def test_a_quarantine_row_edited_deleted_or_inserted_is_named(
    ledger: tuple[Any, LedgerSettings], tamper: str, at: int, expect: str
) -> None:
    """``at``: where the finding is, from the quarantine row (0), the row after it (2),
    or the inserted row (1)."""
    client, settings = ledger
    offset = first_quarantined(client, after=20)
    run(client, tamper.format(o=offset))
    report = check(client, settings)
    [finding] = report.broken
    assert (finding.topic, finding.partition, finding.offset) == (TOPIC, 0, offset + at)
    assert expect in finding.what, finding


def test_two_tamperings_in_one_chain_are_both_named_with_the_count(
    ledger: tuple[Any, LedgerSettings], tmp_path: Path
) -> None:
    client, settings = ledger
    quarantined = first_quarantined(client, after=60)
    run(client, "ALTER TABLE events UPDATE reason = 'looks fine' WHERE offset = 20")
    run(client, f"ALTER TABLE quarantine DELETE WHERE offset = {quarantined}")
    report = check(client, settings)
    assert [f.offset for f in report.broken] == [20, quarantined + 2]
    assert "was edited: reason differs" in report.broken[0].what
    assert "was deleted" in report.broken[1].what
    client.close()  # the command opens the ledger itself
    shown = cli(tmp_path, "ledger", "verify")
    assert shown.returncode == 1, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert sum(line.startswith("BROKEN") for line in lines) == 2
    assert "2 findings; 59 rows in 1 chains checked" in lines


def test_a_ledger_written_before_quarantine_rows_were_chained_still_verifies(
    chdb_ledger: Any, tmp_path: Path
) -> None:
    """Written as before migration 0005: events chained over themselves only, quarantine
    rows without hashes, a checkpoint without ``uncovered_until``. It verifies (those rows
    counted as not covered); a writer of this version goes on from it; a quarantine row
    without hashes after that is named."""
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    items = build(TOPIC, 0, [(o, b"k", message(o)) for o in range(40)], careful=True)
    events = [row for table, row in items if table != "quarantine"]
    head = chain(events, GENESIS)  # the old writers' chain
    for table, row in items:
        if table == "quarantine":
            row["prev_hash"] = row["row_hash"] = ""
    insert(chdb_ledger, TOPIC, {0: items})
    settings.checkpoint_path.joinpath(TOPIC).mkdir(parents=True)
    old = {"offset": events[-1]["offset"], "row_hash": head}
    settings.checkpoint_path.joinpath(TOPIC, "0.json").write_text(json.dumps(old))
    report = check(chdb_ledger, settings)
    assert report.ok, report.broken
    assert (report.rows, report.uncovered) == (34, 6)

    write(chdb_ledger, settings, range(40, 60))  # a writer of this version goes on
    report = check(chdb_ledger, settings)
    assert report.ok, report.broken
    assert (report.rows, report.uncovered) == (34 + 20, 6)
    assert Checkpoints(settings.checkpoint_path).uncovered_until(TOPIC, 0) == 38
    run(
        chdb_ledger,
        "INSERT INTO quarantine (topic, partition, offset, key_hex, raw_hex, error_type, error) "
        f"VALUES ('{TOPIC}', 0, 61, '', '00', 'E', '')",
    )
    [finding] = check(chdb_ledger, settings).broken
    assert (finding.offset, "without a hash" in finding.what) == (61, True)


def test_a_chain_much_longer_than_a_page_is_read_page_by_page(
    chdb_ledger: Any, tmp_path: Path
) -> None:
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    write(chdb_ledger, settings, range(3000), make=lambda o: message(o, every=300))
    spy = Spy(chdb_ledger)
    report = verify(spy, Checkpoints(settings.checkpoint_path), page_rows=50)
    assert report.ok, report.broken[:3]
    assert report.rows == 3000
    assert max(spy.sizes) == 50
    assert len(spy.sizes) >= 3000 // 50

    # a second row at a page's last offset, and a page's worth of rows at one offset, are
    # all read (and named), still a page at a time
    [(edge,)] = chdb_ledger.query(
        "SELECT offset FROM events ORDER BY offset LIMIT 1 OFFSET 49"
    ).result_rows
    run(chdb_ledger, f"INSERT INTO events SELECT * FROM events WHERE offset = {edge}")
    run(chdb_ledger, "INSERT INTO events SELECT e.* FROM events AS e, numbers(120) AS n "
                     "WHERE offset = 1000")  # fmt: skip
    run(chdb_ledger, "ALTER TABLE events UPDATE agent = 'x' WHERE offset = 2998")
    spy = Spy(chdb_ledger)
    report = verify(spy, Checkpoints(settings.checkpoint_path), page_rows=50)
    chain_findings = [f for f in report.broken if f.check == "chain"]
    assert [f.offset for f in chain_findings] == [edge] + [1000] * 120 + [2998]
    assert f"two rows at offset {edge}" in chain_findings[0].what
    assert "two rows at offset 1000" in chain_findings[1].what
    assert "agent differs" in chain_findings[-1].what
    # an UPDATE bypasses the views: the edited agent's rollups no longer match its events
    assert {f.check for f in report.broken} == {"chain", "rollup"}
    assert max(spy.sizes) == 50


class Spy:
    """The client, noting how many rows each query returned."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sizes: list[int] = []

    def query(self, *args: Any, **kwargs: Any) -> Any:
        result = self.client.query(*args, **kwargs)
        if " LIMIT " in args[0]:
            self.sizes.append(len(result.result_rows))
        return result
