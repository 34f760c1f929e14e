"""The projections of ``events`` hold the rows the chain covers (I/O).

A projection (``by_agent``: every row again, ordered by agent and time) is a second copy
of the ledger that ClickHouse reads in place of the table whenever it serves a query
faster, so forensic answers can come from it. Its rows are read directly
(``mergeTreeProjection``) and compared with the table's, per agent: the count and a sum
of each row's hash over every column the chain covers. A copy edited, emptied or
cleared behind the table's back is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handrail.ledger.rows import COLUMNS

_DIGEST = f"count() AS rows, sum(cityHash64({', '.join(COLUMNS)})) AS digest"


@dataclass(frozen=True)
class ProjectionFinding:
    projection: str
    agent: str
    what: str

    def __str__(self) -> str:
        return f"projection {self.projection} of events, agent {self.agent!r}: {self.what}"


def projections(client: Any) -> list[str]:
    rows = client.query(
        "SELECT name FROM system.projections WHERE database = currentDatabase() "
        "AND table = 'events' ORDER BY name"
    ).result_rows
    return [str(name) for (name,) in rows]


def check(client: Any) -> list[ProjectionFinding]:
    """Every agent whose rows in a projection differ from the table's."""
    table = _per_agent(client, "events", {"optimize_use_projections": 0})
    found = []
    for name in projections(client):
        source = f"mergeTreeProjection(currentDatabase(), 'events', '{name}')"
        copy = _per_agent(client, source, {})
        for agent in sorted(table.keys() | copy.keys()):
            want, have = table.get(agent, (0, 0)), copy.get(agent, (0, 0))
            if want[0] != have[0]:
                what = f"{have[0]} rows, the table {want[0]}"
            elif want[1] != have[1]:
                what = "the rows differ from the table's"
            else:
                continue
            found.append(ProjectionFinding(name, agent, what))
    return found


def _per_agent(client: Any, source: str, settings: dict[str, Any]) -> dict[str, tuple[int, int]]:
    rows = client.query(
        f"SELECT agent, {_DIGEST} FROM {source} GROUP BY agent", settings=settings
    ).result_rows
    return {str(agent): (int(n), int(digest)) for agent, n, digest in rows}
