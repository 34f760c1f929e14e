"""``verify`` against a digest on real ledgers (chdb, no Kafka): a ledger and its
checkpoints rewritten together, or its last rows dropped and the checkpoint moved back,
pass plain ``verify`` and are caught by an earlier digest; ``handrail ledger digest``
writes one, ``handrail ledger verify --digest`` checks against it and refuses an altered
one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.digest import Digest
from handrail.ledger.rollups import rollups
from handrail.settings import LedgerSettings
from tests.support.verify_ledgers import TOPIC, check, cli, even_ledger, message, run, write

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def ledger(chdb_ledger: Any, tmp_path: Path) -> tuple[Any, LedgerSettings]:
    """A ledger of 60 rows at even offsets (quarantine rows among them), default checkpoint
    setting: the checkpoints beside it."""
    return even_ledger(chdb_ledger, tmp_path)


def rebuild_rollups(client: Any) -> None:
    """What a thorough forger does after rewriting events: the rollups recomputed, so that
    they agree with the forged events (the rollup check alone cannot tell)."""
    for rollup in rollups():
        run(client, f"TRUNCATE TABLE {rollup.table}")
        run(client, f"INSERT INTO {rollup.table} {rollup.select}")


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
