"""What the console's pages read: the ledger through the sandboxed read path of
``handrail sql`` (``ledger.reader.open_reader``: one SELECT, checked, read-only, bounded)
and the control channel through a follower of the whole channel. Blocking: the pages call
it on a worker thread, one query at a time."""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from handrail.console.views import as_time
from handrail.control.follower import ControlFollower
from handrail.control.state import ControlState
from handrail.governance.authority import Authority
from handrail.ledger import verify_status
from handrail.ledger.errors import QueryError, QueryRefused
from handrail.ledger.explain import build, fetch, path_to
from handrail.ledger.owner_client import OwnerReader
from handrail.ledger.reader import Reader, open_reader
from handrail.settings import Settings

T = TypeVar("T")
ALERT_ROWS = 500
"""The most recent alert events a page reads."""
CHART_BUCKETS = 48
SQL_SLOTS = 2
"""Queries of the SQL box that run at once (each on a reader of its own)."""


def payload(row: dict[str, Any]) -> dict[str, Any]:
    """The payload of a row's ``event_json`` (``{}`` when it has none)."""
    try:
        found = json.loads(row["event_json"]).get("payload") if row.get("event_json") else None
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


class Reading:
    """Queries through one forensic reader, one at a time. A chdb ledger that no owner
    serves is opened for each query and closed after it (one process may hold it), under
    ``engine``, the lock every ``Reading`` of the process shares for that."""

    def __init__(self, settings: Settings, engine: threading.Lock) -> None:
        self._ledger = settings.ledger
        self._engine = engine
        self._reader: Reader | None = None
        self._lock = threading.Lock()

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            unserved = self._ledger.dsn.startswith("chdb://") and not isinstance(
                self._reader, OwnerReader)  # fmt: skip
            with self._engine if unserved else contextlib.nullcontext():
                if self._reader is None:
                    self._reader = open_reader(self._ledger.dsn, self._ledger.reads, wait_s=2)
                try:
                    return self._reader.query(sql, parameters)
                except (QueryRefused, QueryError):
                    raise
                except Exception:  # the owner went away, say: a new reader next time
                    self.close()
                    raise
                finally:
                    if unserved and not isinstance(self._reader, OwnerReader):
                        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class Data:
    def __init__(self, settings: Settings, authority: Authority) -> None:
        self.settings = settings
        self.authority = authority
        self.control = ControlFollower(settings, None, authority)
        engine = threading.Lock()
        self._pages = Reading(settings, engine)
        self._sql = tuple(Reading(settings, engine) for _ in range(SQL_SLOTS))
        """The SQL box's own readers: a slow query holds up no page, nor every other query."""

    def close(self) -> None:
        self.control.close()
        self._pages.close()
        for reading in self._sql:
            reading.close()

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One of the pages' queries through the forensic reader."""
        return self._pages.query(sql, parameters)

    def sql(self, sql: str, slot: int) -> list[dict[str, Any]]:
        """A person's query from the SQL box on reader ``slot`` (refused ones raise
        ``QueryRefused``)."""
        return self._sql[slot].query(sql)

    def state(self, view: Callable[[ControlState], T]) -> T:
        return self.control.read(view)

    # -- pages ----------------------------------------------------------------------------

    def approvals(self) -> list[dict[str, Any]]:
        """Pending requests, oldest first, each with the decision behind it (rationale,
        failed checks) and the verdict's rule, as far as the ledger has them yet."""
        pending = self.state(lambda s: list(s.pending()))
        workflows = sorted({a.workflow_id for a in pending})
        rows = self.query(
            "SELECT toString(event_id) AS event_id, causation_id, type, action, reason, rule, "
            "effect, checks_failed FROM events WHERE workflow_id IN {w:Array(String)} AND type "
            "IN ('decision_made', 'policy_verdict', 'approval_requested') ORDER BY time",
            {"w": workflows},
        ) if workflows else []  # fmt: skip
        by_id = {r["event_id"]: r for r in rows}
        shown = []
        for request in pending:
            chain = [by_id[i] for i in path_to(rows, request.event_id) if i in by_id]
            decision = next((r for r in reversed(chain) if r["type"] == "decision_made"), None)
            verdict = next((r for r in reversed(chain) if r["type"] == "policy_verdict"), None)
            shown.append({
                "request": request,
                "rationale": decision["reason"] if decision else None,
                "failed_checks": list(decision["checks_failed"]) if decision else [],
                "rule": verdict["rule"] if verdict else None,
                "verdict_reason": verdict["reason"] if verdict else None,
                "approvers": sorted(self.authority.approvers(
                    request.agent, request.action, request.resource, request.cost_usd)),
            })  # fmt: skip
        return shown

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of the last ``ALERT_ROWS`` alert events, newest first, each open
        until an ``alert_resolved`` of its dedup key follows it."""
        rows = self.query(
            "SELECT toString(event_id) AS event_id, type, time, workflow_id, causation_id, "
            "event_json FROM events WHERE type IN ('alert_raised', 'alert_resolved') "
            "ORDER BY time DESC, sequence DESC LIMIT {n:UInt32}",
            {"n": ALERT_ROWS},
        )
        resolved: dict[str, datetime] = {}
        alerts = []
        for row in rows:  # newest first: a resolution is seen before what it resolves
            p = payload(row)
            key = str(p.get("dedup_key", ""))
            if row["type"] == "alert_resolved":
                resolved.setdefault(key, as_time(row["time"]))
                continue
            evidence = [e for e in p.get("evidence") or [] if isinstance(e, dict)]
            alerts.append({
                "event_id": row["event_id"], "time": as_time(row["time"]),
                "workflow_id": row["workflow_id"], "concerns": row["causation_id"],
                "dedup_key": key, "detector": str(p.get("detector", "")),
                "severity": str(p.get("severity", "")), "owner": str(p.get("owner", "")),
                "summary": str(p.get("summary", "")),
                "agent": str(p.get("subject_agent") or ""), "evidence": evidence,
                "resolved_at": resolved.get(key),
            })  # fmt: skip
        return alerts

    def workflow(self, ref: str, focus: str | None) -> dict[str, Any]:
        """The decision path of a workflow (or of the workflow of an event, handoff or
        approval id), every event shown; the causes of ``focus`` (or of the event
        asked for) marked."""
        rows, target = fetch(self, ref)
        tree = build(rows)
        chosen = focus or target
        tree["path"] = path_to(rows, chosen) if chosen else []
        tree["target"] = chosen
        return tree

    def recent_workflows(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.query(
            "SELECT workflow_id, count() AS events, max(time) AS last_time, "
            "arraySort(groupUniqArray(toString(agent))) AS agents, "
            "countIf(type = 'alert_raised') AS alerts FROM events WHERE workflow_id != '' "
            "GROUP BY workflow_id ORDER BY last_time DESC LIMIT {n:UInt32}",
            {"n": limit},
        )

    def agents(self) -> dict[str, Any]:
        """Spend over time per agent, retries, handoff outcomes per edge, heartbeats."""
        span = self.query(
            "SELECT min(time) AS first, max(time) AS last FROM events WHERE type = 'spend'"
        )[0]
        series: list[dict[str, Any]] = []
        bucket = 1
        if span["first"] and span["last"]:
            seconds = max(0.0, (as_time(span["last"]) - as_time(span["first"])).total_seconds())
            bucket = max(1, math.ceil(seconds / CHART_BUCKETS))
            series = self.query(
                "SELECT agent, toStartOfInterval(time, toIntervalSecond({b:UInt32})) AS t, "
                "sum(cost_usd) AS usd FROM events WHERE type = 'spend' GROUP BY agent, t "
                "ORDER BY agent, t",
                {"b": bucket},
            )
        heartbeats = self.query(
            "SELECT agent, max(time) AS last, argMax(event_json, time) AS event_json "
            "FROM events WHERE type = 'heartbeat' GROUP BY agent ORDER BY agent"
        )
        now = datetime.now(UTC)
        beats = []
        for row in heartbeats:
            interval = payload(row).get("interval_s")
            every = float(interval) if isinstance(interval, int | float) and interval > 0 else 60
            missed = (now - as_time(row["last"])).total_seconds() / every
            beats.append({"agent": row["agent"], "last": row["last"], "every_s": every,
                          "silent": missed >= 3})  # fmt: skip
        return {
            "bucket_s": bucket,
            "series": series,
            "retries": self.query(
                "SELECT agent, sum(retries) AS retries, max(max_attempt) AS max_attempt, "
                "count() AS operations FROM retries_per_operation GROUP BY agent "
                "ORDER BY retries DESC"
            ),
            "edges": self.query(
                "SELECT handoff_from, handoff_to, offered, accepted, rejected, unanswered, "
                "rejection_rate FROM handoff_outcomes_by_edge ORDER BY offered DESC"
            ),
            "heartbeats": beats,
            "costs": self.query(
                "SELECT agent, cost_usd, events FROM cost_by_agent ORDER BY cost_usd DESC"
            ),
        }

    def ledger(self) -> dict[str, Any]:
        counts = self.query(
            "SELECT (SELECT count() FROM events) AS events, "
            "(SELECT count() FROM quarantine) AS quarantined"
        )[0]
        return {"status": verify_status.last(self.settings.ledger.checkpoint_path), **counts}

    def live(self) -> dict[str, Any]:
        """What a page's live updates compare: pending approvals, halts in force, open
        alerts and the newest one."""
        pending = self.state(lambda s: sorted(a.approval_id for a in s.pending()))
        halts = self.state(lambda s: len(s.halts_in_force()))
        newest = self.query(
            "SELECT toString(event_id) AS event_id, event_json FROM events WHERE type = "
            "'alert_raised' ORDER BY time DESC, sequence DESC LIMIT 1"
        )
        alerts = self.query(
            "SELECT countIf(raised > resolved) AS n FROM (SELECT "
            "JSONExtractString(event_json, 'payload', 'dedup_key') AS key, "
            "maxIf(time, type = 'alert_raised') AS raised, "
            "maxIf(time, type = 'alert_resolved') AS resolved FROM events "
            "WHERE type IN ('alert_raised', 'alert_resolved') GROUP BY key)"
        )[0]["n"]
        return {
            "approvals": len(pending), "approval_ids": pending, "halts": halts,
            "alerts": int(alerts),
            "newest_alert": {"id": newest[0]["event_id"],
                             "summary": str(payload(newest[0]).get("summary", ""))}
            if newest else None,
        }  # fmt: skip
