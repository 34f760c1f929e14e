"""The sink's inserts, in order, on one background thread.

``ingest`` rows travel as an Avro container file that ClickHouse decodes into ``events``
rows itself (``ingest_block.py``, ``ingest_sql.py``); rows built in Python (``events`` and
``quarantine``) as one JSON body (``JSONCompactColumns``: an array per column), which
orjson writes in about a microsecond per row. ClickHouse does its work outside the GIL (in
chdb, or on a server), so the sink hands each insert to this thread and goes on with the
next batch while it runs. (clickhouse-connect's own row serialization runs in Python,
under the GIL, and cost the sink as much as decoding.) At most one insert runs and one
waits (``submit`` blocks beyond that), so the sink is never more than two inserts ahead of
the ledger; inserts run in submission order, which keeps the ledger's "every row up to the
highest offset" true. An insert that fails is retried with the same deduplication token,
with backoff, until it succeeds or the inserter is closed; except an ``ingest`` insert that
ClickHouse refuses (an error other than a lost connection): the inserter drops it and
every insert after it, and the next ``submit`` or ``wait`` raises ``IngestRefused`` (the
sink then writes that stretch the careful way).
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
from clickhouse_connect.driver.exceptions import OperationalError

from handrail.backoff import Backoff
from handrail.ledger.batches import TABLE_COLUMNS
from handrail.ledger.errors import IngestRefused, InserterError
from handrail.ledger.ingest_block import FORMAT as INGEST_FORMAT
from handrail.ledger.ingest_block import writer

log = logging.getLogger(__name__)


FORMAT = "JSONCompactColumns"
SETTINGS = {"date_time_input_format": "best_effort"}
"""orjson writes a ``datetime`` as ISO 8601 (``2026-11-24T20:43:17.431608+00:00``)."""
INGEST_SETTINGS = {
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "session_timezone": "UTC",
    "output_format_json_quote_denormals": 0,
}
"""The deduplication token of an ingest insert also guards the ``events`` rows it makes; the
payload's timestamps are written as UTC (``ingest_sql.py``); a NaN or infinite number is
``null`` in ``event_json``, as orjson writes it, whatever a server's profile says."""


@dataclass(frozen=True)
class Insert:
    table: str
    """What the rows are: ``ingest``, ``events`` or ``quarantine`` (see ``batches``)."""
    target: str
    """The ClickHouse table the insert goes to."""
    columns: tuple[str, ...] | None
    fmt: str
    body: bytes
    """The rows as ``fmt`` (see ``of``)."""
    rows: int
    token: str
    """``insert_deduplication_token``: a retried insert is dropped by ClickHouse."""

    @classmethod
    def of(cls, table: str, rows: list[dict[str, Any]], token: str) -> Insert:
        """The insert of ``rows`` (at least one) of ``table``."""
        if table == "ingest":
            block = writer()
            return cls(table, block.table, None, INGEST_FORMAT, block.block(rows), len(rows), token)
        columns = TABLE_COLUMNS[table]
        body = orjson.dumps(list(zip(*map(itemgetter(*columns), rows), strict=True)))
        return cls(table, table, columns, FORMAT, body, len(rows), token)

    @property
    def settings(self) -> dict[str, Any]:
        extra = INGEST_SETTINGS if self.table == "ingest" else SETTINGS
        return {**extra, "insert_deduplication_token": self.token}


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
        self._refused: IngestRefused | None = None
        self._thread = threading.Thread(target=self._loop, name="ledger-inserter", daemon=True)
        self._thread.start()

    def submit(self, insert: Insert) -> None:
        """Queue an insert; blocks while another one is already waiting."""
        with self._cond:
            self._cond.wait_for(lambda: self._failed or not self._queue)
            self._raise_error()
            self._queue.append(insert)
            self._cond.notify_all()

    def wait(self) -> None:
        """Return when every submitted insert is in the ledger."""
        with self._cond:
            self._cond.wait_for(lambda: self._failed or not (self._queue or self._busy))
            self._raise_error()

    def close(self) -> None:
        """Stop after the running insert (an insert being retried is abandoned); inserts
        not yet started are dropped: a restarted sink writes them again."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    @property
    def _failed(self) -> bool:
        return self._error is not None or self._refused is not None

    def _raise_error(self) -> None:
        if self._error is not None:
            raise InserterError("the ledger's insert thread failed") from self._error
        refused, self._refused = self._refused, None
        if refused is not None:
            raise refused

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
            except IngestRefused as refused:  # drop it and what follows; tell the sink
                with self._cond:
                    self._refused, self._busy = refused, False
                    self._queue.clear()
                    self._cond.notify_all()
                continue
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
        backoff = Backoff(0.5, 10.0)
        while not self._closed:
            try:
                self._client.raw_insert(
                    insert.target, list(insert.columns) if insert.columns else None,
                    insert_block=insert.body, fmt=insert.fmt, settings=insert.settings,
                )  # fmt: skip
                return True
            except Exception as exc:  # the server is away: retry the same insert
                if insert.table == "ingest" and not isinstance(exc, OperationalError):
                    raise IngestRefused(insert, exc) from exc
                delay = backoff.next()
                log.warning(
                    "sink: insert into %s failed (%s); retrying in %.1fs", insert.table, exc, delay
                )
                time.sleep(delay)
        return False
