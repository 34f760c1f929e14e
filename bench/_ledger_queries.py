"""The ledger's query benchmark (``bench.ledger --synthetic``): ``--synthetic`` rows
generated inside ClickHouse, then the explain of one workflow and the cost-per-agent
rollup, each beside its same-run baseline."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._ledger_data import synthetic_insert
from handrail.ledger.client import connect
from handrail.ledger.explain import explain
from handrail.ledger.migrate import migrate
from handrail.ledger.reader import ClientReader
from handrail.ledger.rows import COLUMNS
from handrail.settings import ReadSettings

SYNTHETIC_START = datetime(2026, 10, 14, 12, tzinfo=UTC)
"""The synthetic month starts here, so its 30 days span two monthly partitions."""
ROLLUP = "SELECT agent, sum(cost_usd) FROM cost_by_agent_hour GROUP BY agent ORDER BY 2 DESC"
ROLLUP_RAW = "SELECT agent, sum(cost_usd) FROM events GROUP BY agent ORDER BY 2 DESC"
EXPLAIN_SQL = (
    f"SELECT {', '.join((*COLUMNS, 'ingested_at'))} FROM events "
    "WHERE workflow_id = {w:String} ORDER BY time, sequence"
)


def open_ledger(path: Path) -> Any:
    client = connect(f"chdb://{path}")
    migrate(client)
    return client


def count(client: Any, table: str = "events") -> int:
    return int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up, not counted
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def p(values: list[float], q: float) -> float:
    return sorted(values)[round(q * (len(values) - 1))]


def settle(client: Any, timeout: float = 300) -> float:
    """Wait for background merges to finish (they would compete with the queries)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not count(client, "system.merges"):
            break
        time.sleep(0.5)
    return time.perf_counter() - start


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def synthetic_figures(n: int, runs: int, tmp: Path, seed: int = 5) -> dict[str, Any]:
    path = tmp / "synthetic"
    client = open_ledger(path)
    try:
        start = time.perf_counter()
        client.command(
            synthetic_insert(n, int(SYNTHETIC_START.timestamp())),
            settings={"max_insert_threads": 2},
        )
        generated = time.perf_counter() - start
        waited = settle(client)
        q = client.query
        rows, workflows, agents = q(
            "SELECT count(), uniq(workflow_id), uniq(agent) FROM events"
        ).result_rows[0]
        assert rows == n, rows
        parts = dict(
            q(
                "SELECT table, count() FROM system.parts WHERE active AND database = "
                "currentDatabase() GROUP BY table"
            ).result_rows
        )
        disk = dict(
            q(
                "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND database = "
                "currentDatabase() GROUP BY table"
            ).result_rows
        )
        size = dir_size(path)
        outdated = q(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE NOT active AND database = "
            "currentDatabase()"
        ).result_rows[0][0]
        projection = q(
            "SELECT sum(bytes_on_disk) FROM system.projection_parts WHERE active AND database = "
            "currentDatabase() AND table = 'events'"
        ).result_rows[0][0]
        months = q("SELECT uniq(toYYYYMM(time)) FROM events").result_rows[0][0]
        print(
            f"generated {n:,} events ({workflows:,} workflows, {agents} agents, {months} monthly "
            f"partitions) in {generated:.1f} s ({n / generated:,.0f} rows/s); merges settled "
            f"after {waited:.1f} s more"
        )
        print(
            f"disk: events {disk['events'] / 2**20:,.0f} MiB in {parts['events']} parts "
            f"({disk['events'] / n:.0f} B/event; the by_agent projection is "
            f"{projection / 2**20:,.0f} MiB of it), "
            f"cost_by_agent_hour {disk.get('cost_by_agent_hour', 0) / 2**10:,.0f} KiB in "
            f"{parts.get('cost_by_agent_hour', 0)} parts; ledger dir {size / 2**20:,.0f} MiB, "
            f"{outdated / 2**20:,.0f} MiB of it parts merged away (deleted after a while)"
        )

        ids = [r[0] for r in q("SELECT DISTINCT workflow_id FROM events").result_rows]
        chosen = random.Random(seed).sample(ids, min(len(ids), runs + 1))
        per_workflow = q(
            "SELECT count() / uniq(workflow_id) FROM events WHERE workflow_id IN {w:Array(String)}",
            parameters={"w": chosen},
        ).result_rows[0][0]
        reader = ClientReader(f"chdb://{path}", ReadSettings())
        picks = iter(chosen * 2)
        explain_times = timed(lambda: json.dumps(explain(reader, next(picks)), default=str), runs)
        picks = iter(chosen * 2)
        query_times = timed(lambda: q(EXPLAIN_SQL, parameters={"w": next(picks)}).result_rows, runs)
        rollup = q(ROLLUP).result_rows
        raw = q(ROLLUP_RAW).result_rows
        expected = dict(raw)
        assert dict(rollup).keys() == expected.keys(), "the rollup misses agents"
        assert all(abs(x - expected[a]) <= 1e-6 * max(1.0, x) for a, x in rollup), "sums differ"
        rollup_times = timed(lambda: q(ROLLUP).result_rows, runs)
        raw_times = timed(lambda: q(ROLLUP_RAW).result_rows, runs)
    finally:
        client.close()
    f = {
        "synthetic_events": n,
        "synthetic_workflows": workflows,
        "generation_s": generated,
        "merge_settle_s": waited,
        "events_bytes_on_disk": disk["events"],
        "events_parts": parts["events"],
        "events_projection_bytes": projection,
        "ledger_dir_bytes": size,
        "outdated_parts_bytes": outdated,
        "runs": runs,
        "explain_rows_per_workflow": per_workflow,
        "explain_median_ms": statistics.median(explain_times) * 1000,
        "explain_p90_ms": p(explain_times, 0.9) * 1000,
        "workflow_query_median_ms": statistics.median(query_times) * 1000,
        "workflow_query_p90_ms": p(query_times, 0.9) * 1000,
        "rollup_median_ms": statistics.median(rollup_times) * 1000,
        "rollup_p90_ms": p(rollup_times, 0.9) * 1000,
        "rollup_raw_median_ms": statistics.median(raw_times) * 1000,
        "rollup_raw_p90_ms": p(raw_times, 0.9) * 1000,
        "total_cost_usd": sum(x for _, x in rollup),
    }
    f["rollup_speedup"] = f["rollup_raw_median_ms"] / f["rollup_median_ms"]
    print(
        f"explain of one workflow ({per_workflow:.0f} events on average): "
        "handrail.ledger.explain.explain, its dict dumped to JSON"
    )
    print(
        f"  median {f['explain_median_ms']:7.1f} ms  p90 {f['explain_p90_ms']:7.1f} ms  "
        f"(target median <= 200 ms)"
    )
    print(
        f"  reference, the bare query of the workflow's rows (every column): median "
        f"{f['workflow_query_median_ms']:7.1f} ms  p90 {f['workflow_query_p90_ms']:7.1f} ms"
    )
    print("cost per agent, from the cost_by_agent_hour rollup:")
    print(
        f"  median {f['rollup_median_ms']:7.1f} ms  p90 {f['rollup_p90_ms']:7.1f} ms  "
        f"(target median <= 1 s)"
    )
    print(
        f"  baseline, the same from raw events: median {f['rollup_raw_median_ms']:7.1f} ms  p90 "
        f"{f['rollup_raw_p90_ms']:7.1f} ms  (rollup {f['rollup_speedup']:.1f}x faster)"
    )
    return f
