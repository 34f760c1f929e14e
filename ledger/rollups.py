"""The rollups recomputed from ``events`` and held against their tables (for ``verify``).

The rollup tables (``ledger/migrations/0002_rollups.sql``: ``cost_by_agent_hour``,
``handoff_outcomes``) are filled by materialized views as rows arrive; the hash chain does
not cover them, yet forensic questions read them. ``check`` recomputes each rollup with its
view's own SELECT, taken from the shipped migration (never from the ledger, whose view may
have been replaced), run over the whole of ``events``, and compares it per key (the table's
sorting key) with the table summed per key: a ``SummingMergeTree`` merges the rows of a key
some time after they arrive, not at once. Missing values count as zero, so a key whose
values are all zero matches an absent one (a merge drops such rows). Integers must be equal;
floats may differ by a relative ``REL_TOL`` (the same costs summed in another order), NaN
matches NaN and an infinity the same infinity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from handrail.ledger.errors import LedgerError
from handrail.ledger.ingest_sql import literal
from handrail.ledger.migrate import migrations

log = logging.getLogger(__name__)

REL_TOL = 1e-9
ABS_TOL = 1e-9
"""Two float sums match within ``REL_TOL`` of the larger, or ``ABS_TOL`` (near zero)."""


@dataclass(frozen=True)
class Rollup:
    """A rollup table and the SELECT over ``events`` that its materialized view inserts."""

    table: str
    select: str


@dataclass(frozen=True)
class RollupFinding:
    """A key of a rollup table whose values differ from the ones its events give."""

    table: str
    key: tuple[tuple[str, Any], ...]
    """(column, value) of the key, in the table's sorting-key order."""
    what: str

    def __str__(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key)
        return f"{self.table} ({key}): {self.what}"


def rollups() -> list[Rollup]:
    """Every rollup of the shipped migrations: a materialized view ``TO`` a table other than
    ``events``, written ``CREATE MATERIALIZED VIEW IF NOT EXISTS name TO table AS SELECT``."""
    found = []
    for _, name, statements in migrations():
        for statement in statements:
            if not statement.startswith("CREATE MATERIALIZED VIEW"):
                continue
            words = statement.split(maxsplit=10)
            if len(words) < 11 or words[7] != "TO" or words[9] != "AS":
                raise LedgerError(
                    f"{name}: a materialized view not in the rollup form: {statement}"
                )
            if words[8] != "events":
                found.append(Rollup(words[8], words[10]))
    return found


def _quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _same(column: str, kind: str) -> str:
    """SQL: the rollup's (``r.``) and the events' (``e.``) sums of ``column`` match."""
    r, e = f"r.{column}", f"e.{column}"
    if not kind.startswith("Float"):
        return f"{r} = {e}"
    close = f"abs({r} - {e}) <= greatest({REL_TOL} * greatest(abs({r}), abs({e})), {ABS_TOL})"
    return (
        f"({r} = {e} OR (isNaN({r}) AND isNaN({e})) "
        f"OR (isFinite({r}) AND isFinite({e}) AND {close}))"
    )


def compare_sql(rollup: Rollup, columns: list[tuple[str, str, bool]]) -> str:
    """SQL: one row per key whose sums differ. ``columns``: (name, type, in the sorting key)
    of the rollup table, in table order. Output: in_rollup, in_events, the keys k0.., then
    per value vN the rollup's r_vN, the events' e_vN and same_vN."""
    keys = [(name, kind) for name, kind, is_key in columns if is_key]
    values = [(name, kind) for name, kind, is_key in columns if not is_key]
    if not keys or not values:
        raise LedgerError(f"{rollup.table}: a rollup needs key and value columns: {columns}")

    def side(source: str, cast: bool) -> str:
        ks = [
            f"CAST({_quote(n)}, {literal(k)}) AS k{i}" if cast else f"{_quote(n)} AS k{i}"
            for i, (n, k) in enumerate(keys)
        ]
        vs = [f"sum({_quote(n)}) AS v{i}" for i, (n, _) in enumerate(values)]
        group = ", ".join(f"k{i}" for i in range(len(keys)))
        return f"SELECT 1 AS found, {', '.join(ks + vs)} FROM {source} GROUP BY {group}"

    out = [
        "r.found AS in_rollup",
        "e.found AS in_events",
        *(f"if(r.found = 1, r.k{i}, e.k{i}) AS key{i}" for i in range(len(keys))),
    ]
    same = []
    for i, (_, kind) in enumerate(values):
        same.append(f"same_v{i}")
        out += [f"r.v{i} AS r_v{i}", f"e.v{i} AS e_v{i}", f"{_same(f'v{i}', kind)} AS same_v{i}"]
    on = " AND ".join(f"r.k{i} = e.k{i}" for i in range(len(keys)))
    order = ", ".join(f"key{i}" for i in range(len(keys)))
    return (
        f"SELECT {', '.join(out)}\n"
        f"FROM ({side(_quote(rollup.table), cast=False)}) AS r\n"
        f"FULL OUTER JOIN ({side(f'({rollup.select})', cast=True)}) AS e ON {on}\n"
        f"WHERE NOT ({' AND '.join(same)})\n"
        f"ORDER BY {order}\n"
        "SETTINGS join_use_nulls = 0"
    )


def _columns(client: Any, table: str) -> list[tuple[str, str, bool]]:
    result = client.query(
        "SELECT name, type, is_in_sorting_key FROM system.columns "
        "WHERE database = currentDatabase() AND table = {table:String} ORDER BY position",
        parameters={"table": table},
    )
    return [(str(n), str(t), bool(k)) for n, t, k in result.result_rows]


def check(client: Any) -> list[RollupFinding]:
    """Every key of every rollup table whose values differ from its events', in key order;
    empty when the rollups are exactly what the events give."""
    findings = []
    for rollup in rollups():
        columns = _columns(client, rollup.table)
        if not columns:
            findings.append(RollupFinding(rollup.table, (), "the rollup table is missing"))
            continue
        keys = [name for name, _, is_key in columns if is_key]
        values = [name for name, _, is_key in columns if not is_key]
        for row in client.query(compare_sql(rollup, columns)).result_rows:
            in_rollup, in_events = row[0], row[1]
            key = tuple(zip(keys, row[2 : 2 + len(keys)], strict=True))
            sums = row[2 + len(keys) :]
            held = {v: sums[3 * i] for i, v in enumerate(values)}
            given = {v: sums[3 * i + 1] for i, v in enumerate(values)}
            if not in_rollup:
                what = f"missing from the rollup; the events give {_show(given)}"
            elif not in_events:
                what = f"no event gives this key; the rollup holds {_show(held)}"
            else:
                differ = [v for i, v in enumerate(values) if not sums[3 * i + 2]]
                what = "; ".join(
                    f"{v}: the rollup holds {held[v]!r}, the events give {given[v]!r}"
                    for v in differ
                )
            findings.append(RollupFinding(rollup.table, key, what))
    return findings


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def rebuild(client: Any) -> None:
    """Every rollup recomputed from ``events`` (emptied, then its view's SELECT)."""
    for rollup in rollups():
        client.command(f"TRUNCATE TABLE {rollup.table}")
        client.command(f"INSERT INTO {rollup.table} {rollup.select}")


def repair(client: Any) -> int:
    """The rollups rebuilt if they differ from the events; the number of keys that differed.
    For the ledger's single writer, before it writes: a writer killed between an insert's
    ``events`` part and its rollups' parts (the views are not one transaction) leaves the
    rollups short, and a writer resumes after the ledger's highest offset in ``events``."""
    if stale := check(client):
        log.warning("rebuilding the rollups from events (%d keys off)", len(stale))
        rebuild(client)
    return len(stale)
