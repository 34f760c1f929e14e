"""``verify`` on untouched real ledgers (chdb, no Kafka) finds nothing: NaN and infinite
numbers of every schema version, every event type of every schema version written by both
writers (ClickHouse's ``event_json`` text and Python's), and the demo's ledger checked with
default settings; and an edit of ``event_json``'s text that keeps its value is named,
whichever writer wrote it."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from handrail.demo.scenario import signed_governance
from handrail.demo.show import demo_settings
from handrail.embedded.pipeline import Pipeline
from handrail.ledger.chain import careful_json
from handrail.ledger.client import connect
from handrail.ledger.digest import Digest
from handrail.ledger.migrate import migrate
from handrail.schemas import AVRO_NAMES, SchemaVersion, encode, registry
from handrail.settings import LedgerSettings
from tests.integration.test_embedded_crash import drive, idle, record_storm
from tests.support.samples import event_record
from tests.support.verify_ledgers import CAREFUL, TOPIC, check, cli, run, write, write_careful

pytestmark = pytest.mark.timeout(300)


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
