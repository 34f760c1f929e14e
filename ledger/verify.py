"""``verify``: every chain recomputed and held against its checkpoint, and against a digest
kept elsewhere when one is given (I/O; the checks are ``chain.py`` and ``digest.py``).

A chain is the rows of one (topic, partition), ``events`` and ``quarantine`` merged in
offset order, read in pages of ``page_rows`` (``offset >= last ORDER BY offset LIMIT n``,
which ClickHouse answers reading the other columns of the page's rows only; the rows at a
page's last offset are read again with the next one, so that two rows at an offset are
never split), so memory stays bounded whatever the ledger's size. Each page still scans the
partition's ``offset`` column: time grows with rows squared over ``page_rows``, a few
milliseconds per page per 200,000 rows. Every finding of every check is a ``Finding``; a
check added later appends its own to ``Report.broken``.

Each page of event rows is first given ClickHouse's text of the rows it could have written
(``render``): their messages go back to ClickHouse as the ingest table reads them (an Avro
container, ``ingest_block``, read by ``format(Avro, ...)``) and the ingest view's own SQL
(``ingest_sql.rendering_select``) makes each row's ``event_json`` again, in a ``SELECT`` that
writes nothing, with the settings the sink's ingest inserts use. A query takes at most
``RENDER_BYTES`` of messages, so memory stays bounded there too. On a server, the user
needs what ``format`` needs (``CREATE TEMPORARY TABLE``) and may set ``max_query_size``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from handrail.ledger import projections, rollups
from handrail.ledger.batches import QUARANTINE_COLUMNS
from handrail.ledger.chain import RENDERED, Walk, to_render
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.digest import ChainHead, Digest, extends
from handrail.ledger.errors import QueryError
from handrail.ledger.ingest_block import BlockWriter
from handrail.ledger.ingest_sql import avro_input, rendering_select
from handrail.ledger.inserter import INGEST_SETTINGS
from handrail.ledger.migrate import SETTINGS as DDL_SETTINGS
from handrail.ledger.rows import COLUMNS
from handrail.schemas import registry

PAGE_ROWS = 10_000
"""Rows read per query (some tens of MB of Python objects, at most)."""
_HASHES = ("prev_hash", "row_hash")
RENDER_BYTES = 1 << 18
"""Events (their Avro bodies) rendered per query, at most (and one more): ClickHouse holds
some tens of times their size meanwhile, and each query costs some tens of milliseconds."""
RENDERING_SETTINGS = {**DDL_SETTINGS, **INGEST_SETTINGS}
"""ClickHouse renders ``event_json`` with the sink's ingest settings (its text depends on
some), reading the ingest rows' types as the ingest table does."""


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong: what, and where when it is a row of a chain."""

    what: str
    check: str = "chain"
    """Which check: ``chain`` (links, hashes, columns, checkpoints), ``digest``, ``rollup``,
    ``projection``."""
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = "" if self.topic is None else f"{self.topic}[{self.partition}]"
        if self.offset is not None:
            where += f" offset {self.offset}"
        return f"{where.strip()}: {self.what}" if where else self.what


@dataclass
class Report:
    chains: int = 0
    rows: int = 0
    """Chained rows checked."""
    uncovered: int = 0
    """Quarantine rows written before they were chained (migration 0005): not covered."""
    broken: list[Finding] = field(default_factory=list)
    """Every finding of every check."""
    heads: list[ChainHead] = field(default_factory=list)
    """Each chain's last row, as a digest records it."""

    @property
    def ok(self) -> bool:
        return not self.broken


def verify(
    client: Any,
    checkpoints: Checkpoints,
    digest: Digest | None = None,
    page_rows: int = PAGE_ROWS,
) -> Report:
    """Check every chain found in the ledger, in the checkpoints or in ``digest``, then
    the rollups against the events (``rollups.check``) and the projections against the
    table (``projections.check``)."""
    report = Report()
    anchors = {(h.topic, h.partition): h for h in digest.chains} if digest else {}
    found = client.query(
        "SELECT DISTINCT topic, partition FROM events "
        "UNION DISTINCT SELECT DISTINCT topic, partition FROM quarantine"
    ).result_rows
    keys = {(str(t), int(p)) for t, p in found} | set(checkpoints.partitions()) | set(anchors)
    source = _Rows(client, _quarantine_columns(client), page_rows)
    for topic, partition in sorted(keys):
        report.chains += 1
        _check_chain(
            source, report, checkpoints, (topic, partition), anchors.get((topic, partition))
        )
    report.broken += [Finding(str(found), "rollup") for found in rollups.check(client)]
    report.broken += [Finding(str(found), "projection") for found in projections.check(client)]
    return report


def _check_chain(
    source: _Rows,
    report: Report,
    checkpoints: Checkpoints,
    key: tuple[str, int],
    anchor: ChainHead | None,
) -> None:
    until = checkpoints.uncovered_until(*key)
    if anchor is not None:  # the digest pins it: a checkpoint rewritten later cannot widen it
        until = anchor.uncovered_until if until is None else min(until, anchor.uncovered_until)
    walk = Walk(checkpoints.read(*key), until)
    at_anchor: set[str] = set()
    rows_at_anchor = 0
    for row in source.chain(*key):
        for offset, what in walk.step(row):
            report.broken.append(Finding(what, "chain", *key, offset))
        if anchor is not None and row["offset"] == anchor.offset and row["row_hash"]:
            at_anchor.add(row["row_hash"])
            rows_at_anchor = walk.rows
    for offset, what in walk.end():
        report.broken.append(Finding(what, "chain", *key, offset))
    report.rows += walk.rows
    report.uncovered += walk.uncovered
    if walk.last is not None:
        report.heads.append(ChainHead(*key, *walk.last, walk.rows, walk.uncovered_last))
    if anchor is not None:
        present = walk.rows or walk.uncovered
        wrong = extends(anchor, at_anchor, rows_at_anchor if present else None)
        if wrong is not None:
            report.broken.append(Finding(wrong, "digest", *key, anchor.offset))


def _quarantine_columns(client: Any) -> tuple[str, ...]:
    """The quarantine columns to read: hashes as empty text before migration 0005."""
    have = {
        str(name)
        for (name,) in client.query(
            "SELECT name FROM system.columns "
            "WHERE database = currentDatabase() AND table = 'quarantine'"
        ).result_rows
    }
    return tuple(c if c in have or c not in _HASHES else f"'' AS {c}" for c in QUARANTINE_COLUMNS)


@dataclass(frozen=True)
class _Rows:
    """Reads chains, a page at a time; each page of event rows with ClickHouse's renderings
    (``render``)."""

    client: Any
    quarantine: tuple[str, ...]
    """The quarantine columns to select (``_quarantine_columns``)."""
    page_rows: int

    def chain(self, topic: str, partition: int) -> Iterator[dict[str, Any]]:
        """The rows of one chain in offset order: events and quarantine rows merged."""
        events = self._pages("events", COLUMNS, topic, partition)
        quarantined = self._pages("quarantine", self.quarantine, topic, partition)
        return heapq.merge(
            (row for page in events for row in render(self.client, page)),
            (row for page in quarantined for row in page),
            key=lambda row: int(row["offset"]),
        )

    def _pages(
        self, table: str, columns: tuple[str, ...], topic: str, partition: int
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows of one (topic, partition) of ``table`` in offset order, a page at a time.
        A page's rows at its last offset are read again with the next page (more may follow
        them)."""
        names = [c.rsplit(" AS ", 1)[-1] for c in columns]
        at = names.index("offset")
        select = (
            f"SELECT {', '.join(columns)} FROM {table} "
            "WHERE topic = {topic:String} AND partition = {partition:UInt32} AND "
        )
        params: dict[str, Any] = {"topic": topic, "partition": partition, "n": self.page_rows}
        low, op = -1, ">"
        while True:
            page = self.client.query(
                select + f"offset {op} {{low:Int64}} ORDER BY offset LIMIT {{n:UInt32}}",
                parameters={**params, "low": low},
            ).result_rows
            if len(page) < self.page_rows:
                yield [dict(zip(names, values, strict=True)) for values in page]
                return
            last = int(page[-1][at])
            rows = [r for r in page if r[at] != last]
            yield [dict(zip(names, values, strict=True)) for values in rows]
            if not rows:  # a page of rows at one offset: that offset alone, page by page
                yield from self._offset(select, names, {**params, "low": last})
                low, op = last, ">"
            else:
                low, op = last, ">="

    def _offset(
        self, select: str, names: list[str], params: dict[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row at one offset (many only in a tampered ledger), a page at a time."""
        skip = 0
        while True:
            page = self.client.query(
                select + "offset = {low:Int64} ORDER BY row_hash, prev_hash, raw_hex "
                "LIMIT {n:UInt32} OFFSET {skip:UInt64}",
                parameters={**params, "skip": skip},
            ).result_rows
            yield [dict(zip(names, values, strict=True)) for values in page]
            if len(page) < self.page_rows:
                return
            skip += len(page)


def render(client: Any, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page of event rows, each that ClickHouse could have written and whose text is not
    Python's given ClickHouse's text of its raw message as its ``RENDERED``
    (``chain.to_render``): a query per schema version and ``RENDER_BYTES`` of messages,
    that reads them and writes nothing."""
    asked: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for row in page:
        made = to_render(row)
        if made is not None:
            asked[made["schema_version"]].append((row, made))
    for version, pairs in asked.items():
        start, size = 0, 0
        for end, (_, made) in enumerate(pairs, 1):
            size += len(made["body"])
            if size >= RENDER_BYTES or end == len(pairs):
                chunk = pairs[start:end]
                texts = _Renderer.of(version).rendered(client, [made for _, made in chunk])
                for (row, _), text in zip(chunk, texts, strict=True):
                    row[RENDERED] = text
                start, size = end, 0
    return page


@dataclass(frozen=True)
class _Renderer:
    """Has ClickHouse render one schema version's ingest rows (``ingest_sql``)."""

    writer: BlockWriter
    sql: tuple[str, str]
    """The rendering's SQL before and after its input."""

    @staticmethod
    @cache
    def of(version: int) -> _Renderer:
        schema = next(v for v in registry().versions if v.version == version)
        before, after = rendering_select(schema, "\x00").split("\x00")
        return _Renderer(BlockWriter(schema), (before, after))

    def rendered(self, client: Any, rows: list[dict[str, Any]]) -> list[str | None]:
        """ClickHouse's ``event_json`` of each ingest row (None: the view refuses it). When
        ClickHouse cannot read the rows (one is not an event; only in a ledger rewritten
        with its hashes), they are split in two until that one stands alone (None); when
        it cannot even read none, it cannot render at all: raise."""
        source = avro_input(self.writer.version, self.writer.block(rows))
        sql = source.join(self.sql)
        settings = {**RENDERING_SETTINGS, "max_query_size": len(sql) + 4096}
        error: DatabaseError | None = None
        result: list[Any] = []
        try:
            result = client.query(sql, settings=settings).result_rows
        except DatabaseError as exc:
            if isinstance(exc, OperationalError):
                raise
            error = exc
        if error is None and [int(o) for o, _ in result] == [row["offset"] for row in rows]:
            return [None if text is None else str(text) for _, text in result]
        if len(rows) > 1:
            half = len(rows) // 2
            return self.rendered(client, rows[:half]) + self.rendered(client, rows[half:])
        if rows and self.rendered(client, []) == []:
            return [None]  # this message: ClickHouse cannot read it
        what = error or f"{len(result)} rows for {len(rows)}"
        raise QueryError(f"ClickHouse cannot render the fast path's rows: {what}") from error
