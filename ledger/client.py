"""One way to reach ClickHouse: clickhouse-connect, embedded (``chdb://path``) or a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ProgrammingError

from handrail.ledger.errors import LedgerBusyError


def connect(dsn: str) -> Any:
    """A clickhouse-connect client for ``dsn`` (``chdb:///abs/path``, ``chdb://rel/path``,
    or ``http(s)://user:password@host:8123/database``)."""
    if dsn.startswith("chdb://"):
        path = Path(dsn.removeprefix("chdb://")).resolve()
        path.mkdir(parents=True, exist_ok=True)
        try:
            return clickhouse_connect.get_client(dsn=f"chdb://{path}")
        except ProgrammingError as exc:
            raise LedgerBusyError(
                f"the embedded ledger at {path} is open elsewhere (another process owns it, "
                f"or this process has another ledger open): {exc}"
            ) from exc
    return clickhouse_connect.get_client(dsn=dsn)
