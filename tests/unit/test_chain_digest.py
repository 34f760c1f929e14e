"""What a ledger's chains are held against besides themselves: the digest (a file that
round-trips and checks itself, and ``extends``), and where the ledger's checkpoints are."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.digest import ChainHead, Digest, DigestError, extends
from handrail.settings import LedgerSettings

HEADS = (
    ChainHead("handrail.events", 1, 41, "ab" * 32, 42),
    ChainHead("handrail.events", 0, 9, "cd" * 32, 10, 3),
)


def test_a_digest_round_trips_and_checks_itself() -> None:
    digest = Digest("2026-03-02T10:00:00Z", HEADS)
    text = digest.to_json()
    again = Digest.from_json(text)
    assert sorted(again.chains) == sorted(HEADS)
    data = json.loads(text)
    body = {k: v for k, v in data.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert data["sha256"] == hashlib.sha256(canonical).hexdigest() == digest.sha256


@pytest.mark.parametrize(
    "alter",
    [
        lambda d: d["chains"][0].update(row_hash="ee" * 32),
        lambda d: d["chains"].pop(),
        lambda d: d.update(format="something/2"),
        lambda d: d.pop("sha256"),
        lambda d: d["chains"][0].update(extra=1),
    ],
)
def test_an_altered_digest_file_is_refused(alter: Callable[[dict[str, Any]], Any]) -> None:
    data = json.loads(Digest("2026-03-02T10:00:00Z", HEADS).to_json())
    alter(data)
    with pytest.raises(DigestError):
        Digest.from_json(json.dumps(data))
    with pytest.raises(DigestError):
        Digest.from_json("[]")


def test_extends() -> None:
    h = HEADS[0]
    assert extends(h, {h.row_hash}, h.rows) is None
    assert "not in the ledger" in str(extends(h, set(), None))
    assert "is missing" in str(extends(h, set(), 3))
    assert "rewritten" in str(extends(h, {"00" * 32}, h.rows))
    assert "chained rows" in str(extends(h, {h.row_hash}, h.rows - 1))


# -- where the checkpoints are ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "directory", "expected"),
    [
        ("chdb://.handrail/ledger", None, ".handrail/checkpoints"),
        ("chdb://.handrail/demo/ledger", None, ".handrail/demo/checkpoints"),
        ("chdb:///var/lib/handrail/ledger/", None, "/var/lib/handrail/checkpoints"),
        ("http://u:p@host:8123/db", None, ".handrail/checkpoints"),
        ("chdb://.handrail/ledger", "/elsewhere", "/elsewhere"),
    ],
)
def test_the_ledger_knows_where_its_checkpoints_are(
    dsn: str, directory: str | None, expected: str
) -> None:
    settings = LedgerSettings(dsn=dsn, checkpoint_dir=directory)
    assert settings.checkpoint_path == Path(expected)
