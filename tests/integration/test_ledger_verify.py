"""``verify`` on real ledgers (chdb, no Kafka), written by the embedded pipeline's writer
with the default checkpoint setting: every tampering named with the count (quarantine rows
too; an edit of ``event_json``'s text that keeps its value, whichever writer wrote it), the
ledger and its checkpoints rewritten together caught against an earlier digest, untouched
ledgers (every event type of every schema version, both writers; NaN/inf numbers) clean,
the demo's ledger clean with default settings, and chains far longer than a page read page
by page."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.demo.scenario import signed_governance
from handrail.demo.show import demo_settings
from handrail.embedded.ledger_rows import own_rows
from handrail.embedded.pipeline import Pipeline
from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, careful_json, chain
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.digest import Digest
from handrail.ledger.migrate import migrate
from handrail.ledger.rollups import rollups
from handrail.ledger.verify import Report, verify
from handrail.ledger.writer import LedgerWriter
from handrail.schemas import AVRO_NAMES, SchemaVersion, encode, registry
from handrail.settings import LedgerSettings
from tests.integration.test_embedded_crash import drive, idle, record_storm
from tests.support.ledger_inserts import insert
from tests.support.samples import event_record, sample_payloads

pytestmark = pytest.mark.timeout(300)
TOPIC = "spool:agents"
CAREFUL = "spool:careful"
KINDS = sorted(sample_payloads())


def message(i: int, every: int = 7) -> bytes:
    """An event of every type in turn; every 7th message (``every``) is not an event."""
    if i % every == 3:
        return b"not an event %d" % i
    return encode(event_record(KINDS[i % len(KINDS)], sequence=i))


def write(client: Any, settings: LedgerSettings, offsets: range | list[int],
          make: Any = message) -> None:  # fmt: skip
    """Write messages at ``offsets`` as the embedded pipeline does: resumed, chained,
    checkpointed (where the settings say by default) and inserted."""
    writer = LedgerWriter(client, Checkpoints(settings.checkpoint_path))
    try:
        writer.resume((TOPIC, 0))
        writer.write({(TOPIC, 0): own_rows(TOPIC, [(o, b"k", make(o)) for o in offsets])})
    finally:
        writer.close()


def write_careful(client: Any, settings: LedgerSettings, messages: list[bytes]) -> None:
    """The messages into a chain of their own (``CAREFUL``) the careful way: every one
    decoded in Python, none by ClickHouse."""
    writer = LedgerWriter(client, Checkpoints(settings.checkpoint_path))
    try:
        writer.resume((CAREFUL, 0))
        rows = build(CAREFUL, 0, [(o, None, m) for o, m in enumerate(messages)], careful=True)
        writer.write({(CAREFUL, 0): rows})
    finally:
        writer.close()


def check(client: Any, settings: LedgerSettings, digest: Digest | None = None) -> Report:
    return verify(client, Checkpoints(settings.checkpoint_path), digest)


@pytest.fixture
def ledger(chdb_ledger: Any, tmp_path: Path) -> tuple[Any, LedgerSettings]:
    """A ledger of 60 rows at even offsets (quarantine rows among them), default checkpoint
    setting: the checkpoints beside it."""
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    assert settings.checkpoint_path == tmp_path / "checkpoints"
    write(chdb_ledger, settings, range(0, 120, 2))
    report = check(chdb_ledger, settings)
    assert report.ok, report.broken
    quarantined = chdb_ledger.query("SELECT count() FROM quarantine").result_rows[0][0]
    assert (report.rows, quarantined) == (60, 8)
    return chdb_ledger, settings


def run(client: Any, sql: str) -> None:
    client.command(f"{sql} SETTINGS mutations_sync = 1" if sql.startswith("ALTER") else sql)


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


def rebuild_rollups(client: Any) -> None:
    """What a thorough forger does after rewriting events: the rollups recomputed, so that
    they agree with the forged events (the rollup check alone cannot tell)."""
    for rollup in rollups():
        run(client, f"TRUNCATE TABLE {rollup.table}")
        run(client, f"INSERT INTO {rollup.table} {rollup.select}")


def cli(cwd: Path, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    """``handrail ARGS`` with default settings but the ledger's DSN (``chdb://ledger``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDRAIL_")}
    env.update(HANDRAIL_LEDGER__DSN=dsn or "chdb://ledger", COLUMNS="300")
    return subprocess.run([sys.executable, "-m", "handrail", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_ledger_and_checkpoints_rewritten_together_are_caught_by_an_earlier_digest(
    ledger: tuple[Any, LedgerSettings],
) -> None:
    client, settings = ledger
    digest = Digest(datetime.now(UTC).isoformat(), tuple(check(client, settings).heads))
    [head] = digest.chains
    assert (head.topic, head.offset, head.rows) == (TOPIC, 118, 60)
    write(client, settings, range(120, 140, 2))  # the ledger grows: it still extends it
    assert check(client, settings, digest).ok

    # rewrite history from offset 40 on: rows dropped, other messages written in their
    # place with the writer's own code (hashes recomputed, checkpoint moved along)
    run(client, "ALTER TABLE events DELETE WHERE offset >= 40")
    run(client, "ALTER TABLE quarantine DELETE WHERE offset >= 40")
    write(client, settings, range(40, 140, 2), make=lambda o: message(o + 1))
    assert not check(client, settings).ok  # the rollups still count the old events
    rebuild_rollups(client)
    assert check(client, settings).ok  # plain verify cannot see it
    [finding] = check(client, settings, digest).broken
    assert (finding.check, finding.offset) == ("digest", 118)
    assert "does not carry the digest's hash" in finding.what


def test_dropping_the_last_rows_and_moving_the_checkpoint_back_is_caught_by_a_digest(
    ledger: tuple[Any, LedgerSettings],
) -> None:
    client, settings = ledger
    digest = Digest(datetime.now(UTC).isoformat(), tuple(check(client, settings).heads))
    run(client, "ALTER TABLE events DELETE WHERE offset >= 100")
    run(client, "ALTER TABLE quarantine DELETE WHERE offset >= 100")
    [(offset, row_hash)] = client.query(
        "SELECT offset, row_hash FROM events WHERE offset < 100 ORDER BY offset DESC LIMIT 1"
    ).result_rows
    Checkpoints(settings.checkpoint_path).write(TOPIC, 0, offset, row_hash)
    rebuild_rollups(client)
    assert check(client, settings).ok  # plain verify cannot see it
    [finding] = check(client, settings, digest).broken
    assert (finding.check, finding.offset) == ("digest", 118)
    assert "is missing" in finding.what


def test_the_digest_command_and_verify_against_it(
    ledger: tuple[Any, LedgerSettings], tmp_path: Path
) -> None:
    client, settings = ledger
    client.close()
    made = cli(tmp_path, "ledger", "digest", "--out", "digest.json")
    assert made.returncode == 0, made.stdout + made.stderr
    data = json.loads((tmp_path / "digest.json").read_text())
    [chain] = data["chains"]
    assert (chain["topic"], chain["partition"], chain["offset"], chain["rows"]) == (
        TOPIC, 0, 118, 60,
    )  # fmt: skip
    assert data["sha256"] in made.stdout
    ok = cli(tmp_path, "ledger", "verify", "--digest", "digest.json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "it extends the digest of" in ok.stdout

    client = connect(settings.dsn)  # rewrite the last row and its checkpoint
    run(client, "ALTER TABLE events DELETE WHERE offset = 118")
    [(offset, row_hash)] = client.query(
        "SELECT offset, row_hash FROM events ORDER BY offset DESC LIMIT 1"
    ).result_rows
    Checkpoints(settings.checkpoint_path).write(TOPIC, 0, offset, row_hash)
    rebuild_rollups(client)
    client.close()
    assert cli(tmp_path, "ledger", "verify").returncode == 0
    caught = cli(tmp_path, "ledger", "verify", "--digest", "digest.json")
    assert caught.returncode == 1
    assert "1 finding;" in caught.stdout
    assert "the digest's row at offset 118 is missing" in caught.stdout

    data["chains"][0]["rows"] = 61  # an altered digest is refused
    (tmp_path / "digest.json").write_text(json.dumps(data))
    refused = cli(tmp_path, "ledger", "verify", "--digest", "digest.json")
    assert refused.returncode == 2
    assert "sha256 does not match" in refused.stderr


def _has_double(field: dict[str, Any]) -> bool:
    kind = field["type"]
    return kind == "double" or (isinstance(kind, list) and "double" in kind)


def double_fields(version: SchemaVersion) -> dict[str, list[str]]:
    """The event types of a schema version that have double fields, and those fields."""
    kinds = {avro.rsplit(".", 1)[-1]: kind for kind, avro in AVRO_NAMES.items()}
    [payload] = [f["type"] for f in version.schema["fields"] if f["name"] == "payload"]
    out = {kinds[r["name"]]: [f["name"] for f in r["fields"] if _has_double(f)] for r in payload}
    return {kind: fields for kind, fields in out.items() if fields}


def test_untouched_ledgers_with_nan_and_infinite_numbers_verify_clean(
    chdb_ledger: Any, tmp_path: Path
) -> None:
    """Every double field of every event type of every schema version, NaN, +inf and -inf,
    written by ClickHouse (current-version messages) or decoded in Python (older versions;
    and all of them the careful way, in a second chain): verify finds nothing."""
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    messages = [
        encode(event_record(kind, **{field: value}), version)
        for version in registry().versions
        for kind, fields in double_fields(version).items()
        for field in fields
        for value in (math.nan, math.inf, -math.inf)
    ]
    assert len(messages) >= 2 * 6 * 3
    write(chdb_ledger, settings, range(len(messages)), make=lambda o: messages[o])
    write_careful(chdb_ledger, settings, messages)
    spends = chdb_ledger.query(
        "SELECT schema_version, cost_usd, JSONExtractRaw(event_json, 'payload', 'usd') "
        "FROM events WHERE type = 'spend' AND topic = {t:String}",
        parameters={"t": TOPIC},
    ).result_rows
    assert sorted(spends) == [
        (v.version, 0.0, "null") for v in registry().versions for _ in range(3)
    ]
    report = check(chdb_ledger, settings)
    assert report.ok, report.broken
    assert (report.chains, report.rows) == (2, 2 * len(messages))


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


def test_the_demos_ledger_verifies_clean_with_default_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded pipeline with the demo's own settings (``demo_settings``: everything
    under ``.handrail/demo``), then ``handrail ledger verify`` given only the ledger's DSN,
    as the demo's printout suggests."""
    monkeypatch.chdir(tmp_path)
    base = Path(".handrail/demo")
    settings = demo_settings(base, None)
    assert (settings.spool.dir, settings.spool.control_log) == (base / "spool",
                                                                base / "control.log")  # fmt: skip
    signed_governance(settings)  # the processors' key the demo signs its halts with
    ids = record_storm(base)  # into the demo's spool
    client = connect(settings.ledger.dsn)
    migrate(client)
    pipeline = Pipeline(settings, client)
    asyncio.run(drive(pipeline, idle(pipeline)))
    assert client.query("SELECT count() FROM events").result_rows[0][0] >= len(ids)
    client.close()
    assert (base / "checkpoints").is_dir()
    assert not Path(".handrail/checkpoints").exists()

    shown = cli(tmp_path, "ledger", "verify", dsn="chdb://.handrail/demo/ledger")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "0 findings; " in shown.stdout
    assert "ledger intact" in shown.stdout


def every_event(version: SchemaVersion) -> list[bytes]:
    """Every event type of a schema version, twice: as sampled, and with a cause, ``/`` and
    text beyond ASCII (also in labels, where the version has them) and times with micros."""
    kinds = {avro.rsplit(".", 1)[-1]: kind for kind, avro in AVRO_NAMES.items()}
    [payload] = [f["type"] for f in version.schema["fields"] if f["name"] == "payload"]
    out = []
    for i, kind in enumerate(sorted(kinds[r["name"]] for r in payload)):
        plain = event_record(kind, sequence=i)
        other = event_record(kind, sequence=i + 100, agent="agent/ü 名前")
        other.update(causation_id=plain["event_id"], workflow_id="wf/ß", session_id="s</x>",
                     time=other["time"] + timedelta(microseconds=1234 * i + 1))  # fmt: skip
        other["labels"] = {"path": "a/b", "text": "é ✓ 😀", "quote": 'say "hi" \\ \t'}
        out += [encode(plain, version), encode(other, version)]
    return out


@pytest.fixture
def two_paths(chdb_ledger: Any, tmp_path: Path) -> tuple[Any, LedgerSettings]:
    """Every event type of every schema version written twice: by the embedded pipeline's
    writer (``TOPIC``: ClickHouse writes the current version's ``event_json``, Python the
    older ones') and the careful way (``CAREFUL``: Python writes all). Untouched, it
    verifies clean; ClickHouse's text differs from Python's for every event it wrote."""
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    messages = [m for version in registry().versions for m in every_event(version)]
    write(chdb_ledger, settings, range(len(messages)), make=lambda o: messages[o])
    write_careful(chdb_ledger, settings, messages)
    report = check(chdb_ledger, settings)
    assert report.ok, report.broken
    assert (report.chains, report.rows) == (2, 2 * len(messages))
    rows = {
        (topic, version): [careful_json(row) == row["event_json"] for row in rows]
        for topic in (TOPIC, CAREFUL)
        for version, rows in stored_by_version(chdb_ledger, topic).items()
    }
    current = registry().current.version
    assert not any(rows[TOPIC, current])  # ClickHouse's text, never Python's
    assert all(same for (topic, version), r in rows.items() if (topic, version) != (TOPIC, current)
               for same in r)  # fmt: skip
    return chdb_ledger, settings


def stored_by_version(client: Any, topic: str) -> dict[int, list[dict[str, Any]]]:
    columns = ("topic", "partition", "offset", "event_json", "raw_hex", "schema_version")
    result = client.query(
        f"SELECT {', '.join(columns)} FROM events WHERE topic = {{t:String}} ORDER BY offset",
        parameters={"t": topic},
    ).result_rows
    out: dict[int, list[dict[str, Any]]] = {}
    for values in result:
        row = dict(zip(columns, values, strict=True))
        out.setdefault(row["schema_version"], []).append(row)
    return out


TEXT_EDITS = {
    "duplicate-key": """replaceOne(event_json, '"payload":{', """
    """'"payload":{"approver":"mallory@evil","reason":"forged",')""",
    "escape": r"""replaceOne(event_json, '"alice"', '"\\u0061lice"')""",
    "whitespace": """replaceOne(event_json, '"sequence":', '"sequence": ')""",
    "number": r"""replaceRegexpOne(event_json, '"sequence":([0-9]+)', '"sequence":\\1e0')""",
}
"""Edits of an ``event_json``'s text that keep its value as Python parses it."""
SEEN = {
    "duplicate-key": ("JSONExtractString(event_json, 'payload', 'approver')", "alice",
                      "mallory@evil"),
    "escape": ("event_json LIKE '%\"approver\":\"alice\"%'", 1, 0),
}  # fmt: skip
"""What SQL sees of some of the edited rows: before, after."""


@pytest.mark.parametrize("topic", [TOPIC, CAREFUL], ids=["clickhouse-wrote", "python-wrote"])
@pytest.mark.parametrize("edit", list(TEXT_EDITS))
def test_an_edit_of_event_jsons_text_is_named_even_when_its_value_stays(
    two_paths: tuple[Any, LedgerSettings], topic: str, edit: str
) -> None:
    """On an ``approval_granted`` row of the current schema version: Python parses the
    edited text to the same value (the check that compared values passed it, with a digest
    too), but what SQL sees of it changed."""
    client, settings = two_paths
    where = (
        f"topic = '{topic}' AND type = 'approval_granted' AND "
        f"schema_version = {registry().current.version}"
    )
    seen = SEEN.get(edit, ("1", 1, 1))
    [(offset, before, seen_before)] = client.query(
        f"SELECT offset, event_json, {seen[0]} FROM events WHERE {where} ORDER BY offset LIMIT 1"
    ).result_rows
    digest = Digest(datetime.now(UTC).isoformat(), tuple(check(client, settings).heads))
    run(client, f"ALTER TABLE events UPDATE event_json = {TEXT_EDITS[edit]} "
                f"WHERE {where} AND offset = {offset}")  # fmt: skip
    [(after, seen_after)] = client.query(
        f"SELECT event_json, {seen[0]} FROM events WHERE {where} AND offset = {offset}"
    ).result_rows
    assert after != before
    assert orjson.loads(after) == orjson.loads(before)
    assert (seen_before, seen_after) == seen[1:]
    for report in (check(client, settings), check(client, settings, digest)):
        [finding] = report.broken
        assert (finding.check, finding.topic, finding.offset) == ("chain", topic, offset)
        assert "was edited: event_json differs from its event" in finding.what
