"""Ledgers for ``verify``'s integration tests (real chdb, no Kafka): messages of every
event type written as the embedded pipeline's writer writes them, with the default
checkpoint setting (the checkpoints beside the ledger), or the careful way into a chain of
their own; ``verify`` and ``handrail`` run on them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from handrail.embedded.ledger_rows import own_rows
from handrail.ledger.batches import build
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.digest import Digest
from handrail.ledger.verify import Report, verify
from handrail.ledger.writer import LedgerWriter
from handrail.schemas import encode
from handrail.settings import LedgerSettings
from tests.support.samples import event_record, sample_payloads

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


def even_ledger(client: Any, tmp_path: Path) -> tuple[Any, LedgerSettings]:
    """``client``'s ledger (at ``tmp_path / 'ledger'``) given 60 rows at even offsets
    (quarantine rows among them), default checkpoint setting: the checkpoints beside it."""
    settings = LedgerSettings(dsn=f"chdb://{tmp_path / 'ledger'}")
    assert settings.checkpoint_path == tmp_path / "checkpoints"
    write(client, settings, range(0, 120, 2))
    report = check(client, settings)
    assert report.ok, report.broken
    quarantined = client.query("SELECT count() FROM quarantine").result_rows[0][0]
    assert (report.rows, quarantined) == (60, 8)
    return client, settings


def run(client: Any, sql: str) -> None:
    client.command(f"{sql} SETTINGS mutations_sync = 1" if sql.startswith("ALTER") else sql)


def cli(cwd: Path, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    """``handrail ARGS`` with default settings but the ledger's DSN (``chdb://ledger``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDRAIL_")}
    env.update(HANDRAIL_LEDGER__DSN=dsn or "chdb://ledger", COLUMNS="300")
    return subprocess.run([sys.executable, "-m", "handrail", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
