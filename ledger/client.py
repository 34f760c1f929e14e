"""One way to reach ClickHouse: clickhouse-connect, embedded (``chdb://path``) or a server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError

from handrail.files import PRIVATE, FileModes
from handrail.ledger.errors import LedgerBusyError


def connect(dsn: str, wait_s: float = 0.0, modes: FileModes | None = None) -> Any:
    """A clickhouse-connect client for ``dsn`` (``chdb:///abs/path``, ``chdb://rel/path``,
    or ``http(s)://user:password@host:8123/database``).

    An embedded ledger held by another process raises ``LedgerBusyError``, after retrying
    for ``wait_s`` seconds (a reader in another terminal holds it only briefly). A new
    embedded ledger's directory is private; its writer gives it ``modes`` (a team's group),
    which a reader leaves as they are.
    """
    if not dsn.startswith("chdb://"):
        return clickhouse_connect.get_client(dsn=dsn)
    path = Path(dsn.removeprefix("chdb://")).resolve()
    if modes is not None:
        modes.directory(path)
    elif not path.exists():
        PRIVATE.directory(path)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return clickhouse_connect.get_client(dsn=f"chdb://{path}")
        except DatabaseError as exc:  # refused (ProgrammingError) or the lock taken meanwhile
            if time.monotonic() >= deadline:
                raise LedgerBusyError(
                    f"the embedded ledger at {path} is open elsewhere (another process "
                    f"owns it, or this process has another ledger open): {exc}"
                ) from exc
            time.sleep(0.2)
