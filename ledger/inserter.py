"""The sink's inserts, in order, on one background thread.

An insert's rows travel as one JSON body (``JSONCompactColumns``: an array per column),
which orjson writes in about a microsecond per row; ClickHouse parses it outside the GIL
(in chdb, or on a server), so the sink hands each insert to this thread and goes on
decoding the next batch while it runs. (clickhouse-connect's own row serialization runs
in Python, under the GIL, and cost the sink as much as decoding.) At most
one insert runs and one waits (``submit`` blocks beyond that), so the sink is never more
than two inserts ahead of the ledger; inserts run in submission order, which keeps the
ledger's "every row up to the highest offset" true. An insert that fails is retried with
the same deduplication token, with backoff, until it succeeds or the inserter is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from handrail.ledger.batches import TABLE_COLUMNS
from handrail.ledger.errors import InserterError

log = logging.getLogger(__name__)


FORMAT = "JSONCompactColumns"
SETTINGS = {"date_time_input_format": "best_effort"}
"""orjson writes a ``datetime`` as ISO 8601 (``2026-11-24T20:43:17.431608+00:00``)."""


@dataclass(frozen=True)
class Insert:
    table: str
    columns: tuple[str, ...]
    body: bytes
    """The rows as ``FORMAT`` (see ``of``)."""
    rows: int
    token: str
    """``insert_deduplication_token``: a retried insert is dropped by ClickHouse."""

    @classmethod
    def of(cls, table: str, rows: list[dict[str, Any]], token: str) -> Insert:
        """The insert of ``rows`` (at least one) into ``table`` (``events``/``quarantine``)."""
        columns = TABLE_COLUMNS[table]
        body = orjson.dumps(list(zip(*map(itemgetter(*columns), rows), strict=True)))
        return cls(table, columns, body, len(rows), token)


class Inserter:
    """Run ``Insert``s on a thread; ``done(insert)`` is called on it after each one."""

    def __init__(self, client: Any, done: Callable[[Insert], None]) -> None:
        self._client = client
        self._done = done
        self._cond = threading.Condition()
        self._queue: deque[Insert] = deque()
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ledger-inserter", daemon=True)
        self._thread.start()

    def submit(self, insert: Insert) -> None:
        """Queue an insert; blocks while another one is already waiting."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or not self._queue)
            self._raise_error()
            self._queue.append(insert)
            self._cond.notify_all()

    def wait(self) -> None:
        """Return when every submitted insert is in the ledger."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or not (self._queue or self._busy))
            self._raise_error()

    def close(self) -> None:
        """Stop after the running insert (an insert being retried is abandoned); inserts
        not yet started are dropped: a restarted sink writes them again."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise InserterError("the ledger's insert thread failed") from self._error

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._queue))
                if self._closed:
                    return
                insert = self._queue.popleft()
                self._busy = True
                self._cond.notify_all()
            try:
                if self._insert(insert):
                    self._done(insert)
            except BaseException as exc:  # a bug, not the server: stop and tell the sink
                with self._cond:
                    self._error, self._busy = exc, False
                    self._cond.notify_all()
                return
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _insert(self, insert: Insert) -> bool:
        """Insert until it succeeds (True) or the inserter is closed (False)."""
        delay = 0.5
        while not self._closed:
            try:
                self._client.raw_insert(
                    insert.table, list(insert.columns), insert_block=insert.body, fmt=FORMAT,
                    settings={**SETTINGS, "insert_deduplication_token": insert.token},
                )  # fmt: skip
                return True
            except Exception as exc:  # the server is away: retry the same insert
                log.warning(
                    "sink: insert into %s failed (%s); retrying in %.1fs", insert.table, exc, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        return False
