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
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from handrail.ledger import rollups
from handrail.ledger.batches import QUARANTINE_COLUMNS
from handrail.ledger.chain import Walk
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.digest import ChainHead, Digest, extends
from handrail.ledger.rows import COLUMNS

PAGE_ROWS = 10_000
"""Rows read per query (some tens of MB of Python objects, at most)."""
_HASHES = ("prev_hash", "row_hash")


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong: what, and where when it is a row of a chain."""

    what: str
    check: str = "chain"
    """Which check: ``chain`` (links, hashes, columns, checkpoints), ``digest``, ``rollup``."""
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
    the rollups against the events (``rollups.check``)."""
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
    """Reads chains, a page at a time."""

    client: Any
    quarantine: tuple[str, ...]
    """The quarantine columns to select (``_quarantine_columns``)."""
    page_rows: int

    def chain(self, topic: str, partition: int) -> Iterator[dict[str, Any]]:
        """The rows of one chain in offset order: events and quarantine rows merged."""
        events = self._pages("events", COLUMNS, topic, partition)
        quarantined = self._pages("quarantine", self.quarantine, topic, partition)
        return heapq.merge(events, quarantined, key=lambda row: int(row["offset"]))

    def _pages(
        self, table: str, columns: tuple[str, ...], topic: str, partition: int
    ) -> Iterator[dict[str, Any]]:
        """The rows of one (topic, partition) of ``table`` in offset order. A page's rows
        at its last offset are read again with the next page (more may follow them)."""
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
                for values in page:
                    yield dict(zip(names, values, strict=True))
                return
            last = int(page[-1][at])
            rows = [r for r in page if r[at] != last]
            for values in rows:
                yield dict(zip(names, values, strict=True))
            if not rows:  # a page of rows at one offset: that offset alone, page by page
                yield from self._offset(select, names, {**params, "low": last})
                low, op = last, ">"
            else:
                low, op = last, ">="

    def _offset(
        self, select: str, names: list[str], params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Every row at one offset (many only in a tampered ledger), a page at a time."""
        skip = 0
        while True:
            page = self.client.query(
                select + "offset = {low:Int64} ORDER BY row_hash, prev_hash, raw_hex "
                "LIMIT {n:UInt32} OFFSET {skip:UInt64}",
                parameters={**params, "skip": skip},
            ).result_rows
            for values in page:
                yield dict(zip(names, values, strict=True))
            if len(page) < self.page_rows:
                return
            skip += len(page)
