"""Forensic reads of the ledger, wherever it is: one SELECT over its tables, bounded.

``Reader`` is the port: ``query(sql, parameters) -> rows as dicts``. Two adapters:
``ClientReader`` over a clickhouse-connect client of its own (a server, or a chdb ledger:
never the writer's client, so a refused, failing or slow read cannot change or block
ingestion), and ``OwnerReader`` (``ledger/owner_client.py``) to the process that holds an
embedded ledger (one chdb path can be open in one process only).

Every query ``ClientReader`` runs goes through the same steps: ClickHouse formats it
(``formatQuerySingleLine``: exactly one statement, or a syntax error), parses it
(``EXPLAIN AST``, which runs nothing), ``query_policy.check`` judges the tree, and the
formatted statement (what was judged, not the text as sent) runs read-only with the
limits of ``ledger.reads``: time, result rows and bytes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

from handrail.ledger.client import connect
from handrail.ledger.errors import LedgerBusyError, QueryError, QueryRefused
from handrail.ledger.owner_client import OwnerReader
from handrail.ledger.query_policy import check, parse
from handrail.settings import ReadSettings

BLOCK_ROWS = 8192
"""Rows a block of a forensic query holds at most: the result's size is checked per block."""


class Reader(Protocol):
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one read-only query; rows as dicts keyed by column name."""
        ...

    def close(self) -> None: ...


class ClientReader:
    """Reads ``dsn`` through a client of its own (an embedded engine's session is put in
    ``readonly`` mode for good), replaced after any failure: a query cut short must not
    leave anything behind for the next one."""

    def __init__(self, dsn: str, limits: ReadSettings) -> None:
        self._dsn = dsn
        self._limits = limits
        self._embedded = dsn.startswith("chdb://")
        self._settings: dict[str, Any] = {
            "max_execution_time": limits.max_seconds,
            "max_result_rows": limits.max_rows,
            "max_result_bytes": limits.max_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": limits.max_memory,
            "max_block_size": BLOCK_ROWS,
        }
        if not self._embedded:
            self._settings["readonly"] = 2  # a server's forensics user is read-only anyway
        self._client = self._open()
        self._schema: tuple[frozenset[str], str, frozenset[str]] | None = None

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        parameters = parameters or {}
        if len(sql.encode()) > self._limits.max_sql_bytes:
            raise QueryRefused(f"the query is longer than {self._limits.max_sql_bytes} bytes")
        format_sql = "SELECT formatQuerySingleLine({q:String})"
        statement = self._rows(format_sql, {"q": sql}, self._settings)[0][0]
        tree = self._rows(f"EXPLAIN AST graph = 1 {statement}", parameters, {})  # (no settings:
        # they would show in the tree)
        tables, database, functions = self._schema or self._load_schema()
        check(parse(row[0] for row in tree), tables, database, functions, self._is_file)
        try:
            names, rows = self._bounded(statement, parameters)
        except QueryRefused:
            self._renew()
            raise
        except Exception as exc:
            self._renew()
            raise QueryError(_reason(exc)) from None
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _bounded(self, statement: str, parameters: dict[str, Any]) -> tuple[Any, list[Any]]:
        """The result, read a block at a time and refused once it holds more than
        ``max_bytes``: the engine checks its own limit only between blocks, and one block
        of wide rows can be far larger."""
        rows: list[Any] = []
        size = 0
        stream = self._client.query_row_block_stream(
            statement, parameters=parameters, settings=self._settings
        )
        with stream:
            for block in stream:
                size += sum(map(_size, block))
                if size > self._limits.max_bytes:
                    raise QueryRefused(
                        f"the result is larger than {self._limits.max_bytes} bytes "
                        "(ledger.reads.max_bytes): select fewer rows or columns"
                    )
                rows += block
            return stream.source.column_names, rows

    def _renew(self) -> None:
        """A new client in place of one whose query failed (closing it ends its stream)."""
        self._client.close()
        self._client = self._open()

    def _open(self) -> Any:
        client = connect(self._dsn)
        if self._embedded:
            client.command("SET readonly = 2")  # this session can never write again
        return client

    def _rows(self, sql: str, parameters: dict[str, Any], settings: dict[str, Any]) -> list[Any]:
        """A helper query's rows; its failure is the caller's query's (a syntax error)."""
        try:
            rows: list[Any] = self._client.query(
                sql, parameters=parameters, settings=settings
            ).result_rows
        except Exception as exc:
            self._renew()
            raise QueryError(_reason(exc)) from None
        return rows

    def _load_schema(self) -> tuple[frozenset[str], str, frozenset[str]]:
        database = str(self._rows("SELECT currentDatabase()", {}, self._settings)[0][0])
        tables = self._rows(
            "SELECT name FROM system.tables WHERE database = {d:String}",
            {"d": database},
            self._settings,
        )
        functions = self._rows("SELECT name FROM system.table_functions", {}, self._settings)
        self._schema = (
            frozenset(str(r[0]) for r in tables),
            database,
            frozenset(str(r[0]) for r in functions),
        )
        return self._schema

    def _is_file(self, name: str) -> bool:
        """An embedded engine reads a file of its working directory for a name that is no
        table (a server has no such lookup)."""
        return self._embedded and os.path.lexists(name)

    def close(self) -> None:
        self._client.close()


def _size(value: Any) -> int:
    """About how many bytes a value of a result row holds."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return 8 + sum(map(_size, value))
    if isinstance(value, dict):
        return 8 + sum(_size(k) + _size(v) for k, v in value.items())
    return 8


def _reason(exc: Exception) -> str:
    """ClickHouse's reason, without the stack trace and query text it may append."""
    text = str(exc).strip()
    return text.split("\n", 1)[0][:2000] if text else type(exc).__name__


def chdb_path(dsn: str) -> Path | None:
    return Path(dsn.removeprefix("chdb://")).resolve() if dsn.startswith("chdb://") else None


def open_reader(dsn: str, limits: ReadSettings | None = None, wait_s: float = 10.0) -> Reader:
    """A reader for ``dsn``; for a chdb ledger held by another process, its owner.

    The owner is asked first when its socket answers, so that a reader does not knock on a
    held ledger; while the ledger is busy and no owner answers (another short-lived reader
    holds it, or the owner is starting), keep trying for ``wait_s`` seconds. An owner
    socket held by another user is refused (``OwnerError``), never read from.
    """
    limits = limits or ReadSettings()
    path = chdb_path(dsn)
    deadline = time.monotonic() + wait_s
    while True:
        if path is not None:
            owner = OwnerReader.reach(path, limits)
            if owner is not None:
                return owner
        try:
            return ClientReader(dsn, limits)
        except LedgerBusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
