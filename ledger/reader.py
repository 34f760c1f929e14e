"""Read-only access to the ledger, wherever it is.

``Reader`` is the port: ``query(sql, parameters) -> rows as dicts``, always read-only
(ClickHouse ``readonly=2``: no writes, no DDL, and ``readonly`` itself cannot be lifted).
Two adapters: ``ClientReader`` over a clickhouse-connect client (a server, or a chdb
ledger no other process holds), and ``OwnerReader`` over HTTP to the process that holds an
embedded chdb ledger (see ``ledger/owner.py``): one chdb path can be open in one process
only, so a second terminal reads through the owner.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from handrail.ledger.client import connect
from handrail.ledger.errors import LedgerBusyError, LedgerError

READ_ONLY = {"readonly": 2}
OWNER_FILE = ".handrail-owner.json"


class QueryError(LedgerError):
    """The ledger refused or failed a read query; the message carries ClickHouse's reason."""


class Reader(Protocol):
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one read-only query; rows as dicts keyed by column name."""
        ...

    def close(self) -> None: ...


class ClientReader:
    def __init__(self, client: Any) -> None:
        self._client = client

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            result = self._client.query(sql, parameters=parameters or {}, settings=READ_ONLY)
        except Exception as exc:
            raise QueryError(str(exc)) from exc
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def close(self) -> None:
        self._client.close()


class OwnerReader:
    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=60)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        response = self._http.post("/query", json={"sql": sql, "parameters": parameters or {}})
        body = response.json()
        if response.status_code != 200:
            raise QueryError(body.get("error", response.text))
        rows: list[dict[str, Any]] = body["rows"]
        return rows

    def close(self) -> None:
        self._http.close()


def chdb_path(dsn: str) -> Path | None:
    return Path(dsn.removeprefix("chdb://")).resolve() if dsn.startswith("chdb://") else None


def open_reader(dsn: str, wait_s: float = 10.0) -> Reader:
    """A reader for ``dsn``; for a chdb ledger held by another process, its owner.

    The owner is asked first when one has announced itself (and answers), so that a
    reader does not knock on a held ledger; while the ledger is busy and no owner
    answers (another short-lived reader holds it, or the owner is starting), keep trying
    for ``wait_s`` seconds.
    """
    path = chdb_path(dsn)
    deadline = time.monotonic() + wait_s
    while True:
        owner = _owner(path / OWNER_FILE) if path else None
        if owner is not None:
            return owner
        try:
            return ClientReader(connect(dsn))
        except LedgerBusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _owner(file: Path) -> OwnerReader | None:
    """The reader of the owner that ``file`` announces, if it answers."""
    try:
        reader = OwnerReader(json.loads(file.read_text())["url"])
    except (OSError, ValueError, KeyError):
        return None
    try:
        reader.query("SELECT 1")
    except httpx.HTTPError:  # a stale announcement (the owner was killed)
        reader.close()
        return None
    return reader
