"""The console's pages (what people read), its live updates, and the application that
serves them with the sign-in and the decisions (``deciding.py``) behind the middlewares
(``guard.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from aiohttp import web

from handrail.console import views
from handrail.console.data import SQL_SLOTS, Data
from handrail.console.deciding import (
    DECIDING,
    Deciding,
    decide,
    prepare_approval,
    prepare_resume,
    signin,
    signin_page,
    signout,
)
from handrail.console.guard import errors, guard, headers
from handrail.console.sessions import Session, Sessions
from handrail.console.web import (
    COOKIE,
    DATA,
    FILES,
    LIVE,
    SESSIONS,
    SETTINGS,
    SQL,
    TEMPLATES,
    blocking,
    form,
    page,
    segment,
    session_of,
    static,
    static_files,
    templates,
)
from handrail.ledger.errors import QueryError, QueryRefused
from handrail.settings import ConsoleSettings

log = logging.getLogger(__name__)

MAX_BODY: Final = 64 * 1024
MAX_LIVE: Final = 32
"""Live update streams open at once; past it a page updates on reload only."""
MAX_LIVE_PER_PERSON: Final = 4
SQL_ROWS_SHOWN: Final = 1000
"""Rows of a SQL box result drawn in the page (the count says how many there were)."""
SEVERITIES: Final = ("critical", "warning", "info")


def app(data: Data, settings: ConsoleSettings) -> web.Application:
    application = web.Application(middlewares=[errors, guard], client_max_size=MAX_BODY)
    application.on_response_prepare.append(headers)
    application[DATA] = data
    application[SETTINGS] = settings
    application[SESSIONS] = Sessions(settings.session_minutes, settings.max_sessions)
    application[TEMPLATES] = templates()
    application[LIVE] = []
    application[DECIDING] = Deciding()
    application[SQL] = ThreadPoolExecutor(SQL_SLOTS, thread_name_prefix="console-sql")
    application[SLOTS] = SqlSlots()
    application[FILES] = static_files()
    r = application.router
    r.add_get("/static/{name}", static)
    r.add_get("/", index)
    r.add_get("/signin", signin_page)
    r.add_post("/signin", signin)
    r.add_post("/signout", signout)
    r.add_get("/approvals", approvals)
    r.add_post("/approvals/{verb:approve|deny}", prepare_approval)
    r.add_get("/alerts", alerts)
    r.add_get("/halts", halts)
    r.add_post("/halts/resume", prepare_resume)
    r.add_post("/decisions/{nonce}", decide)
    r.add_get("/workflows", workflows)
    r.add_get("/workflows/{ref}", workflow)
    r.add_get("/agents", agents)
    r.add_get("/ledger", ledger)
    r.add_post("/ledger", ledger)
    r.add_get("/live", live)
    return application


async def index(_: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/approvals")


async def approvals(request: web.Request) -> web.Response:
    items = await blocking(request.app[DATA].approvals)
    return page(request, "approvals.html", items=items, live="approvals")


def _alert_filters(request: web.Request) -> dict[str, str]:
    names = ("severity", "owner", "detector", "agent", "dedup_key", "state")
    return {n: request.query.get(n, "")[:200] for n in names if request.query.get(n)}


async def alerts(request: web.Request) -> web.Response:
    found = await blocking(request.app[DATA].alerts)
    filters = _alert_filters(request)
    state = filters.get("state", "")
    shown = [
        a for a in found
        if all(a[k] == v for k, v in filters.items() if k != "state")
        and (state != "open" or a["resolved_at"] is None)
        and (state != "resolved" or a["resolved_at"] is not None)
    ]  # fmt: skip
    options = {k: sorted({a[k] for a in found if a[k]}) for k in ("owner", "detector", "agent")}
    return page(request, "alerts.html", alerts=shown, filters=filters, options=options,
                 severities=SEVERITIES, live="alerts")  # fmt: skip


async def halts(request: web.Request) -> web.Response:
    data = request.app[DATA]
    held = data.state(lambda s: s.halts_in_force())
    shown = [{"agent": t[0], "operation": t[1], "notice": n,
              "resumers": sorted(data.authority.resumers(t[0]))} for t, n in held]  # fmt: skip
    return page(request, "halts.html", halts=shown, live="halts")


async def workflows(request: web.Request) -> web.Response:
    ref = request.query.get("ref", "").strip()
    if ref:
        raise web.HTTPSeeOther(f"/workflows/{segment(ref)}")
    found = await blocking(request.app[DATA].recent_workflows)
    return page(request, "workflows.html", workflows=found)


async def workflow(request: web.Request) -> web.Response:
    ref, focus = request.match_info["ref"][:500], request.query.get("focus") or None
    tree = await blocking(lambda: request.app[DATA].workflow(ref, focus))
    return page(request, "workflow.html", tree=tree, picture=views.lanes(tree))


async def agents(request: web.Request) -> web.Response:
    found = await blocking(request.app[DATA].agents)
    return page(request, "agents.html", chart=views.chart(found["series"], found["bucket_s"]),
                 **found)  # fmt: skip


class SqlSlots:
    """Who runs a query of the SQL box on which reader: one query per person, at most
    ``SQL_SLOTS`` at once; a query keeps its slot until it ends, whoever left."""

    def __init__(self) -> None:
        self._busy: dict[int, str] = {}

    def take(self, person: str) -> int:
        if person in self._busy.values():
            raise web.HTTPTooManyRequests(text="your last query is still running")
        free = [n for n in range(SQL_SLOTS) if n not in self._busy]
        if not free:
            raise web.HTTPServiceUnavailable(text="the SQL box is busy: try again shortly")
        self._busy[free[0]] = person
        return free[0]

    def give_back(self, slot: int) -> None:
        self._busy.pop(slot, None)


SLOTS = web.AppKey("slots", SqlSlots)


async def ledger(request: web.Request) -> web.Response:
    data = request.app[DATA]
    sql, result, error = "", None, None
    total = 0
    if request.method == "POST":
        person = session_of(request).person
        sql = (await form(request)).get("sql", "")
        slots: SqlSlots = request.app[SLOTS]
        slot = slots.take(person)
        try:  # on a thread and a reader of its own: a slow query never holds up the pages
            loop = asyncio.get_running_loop()
            rows = await loop.run_in_executor(request.app[SQL], data.sql, sql, slot)
            total, result = len(rows), rows[:SQL_ROWS_SHOWN]
        except (QueryRefused, QueryError) as exc:
            error = str(exc)
        finally:
            slots.give_back(slot)
    found = await blocking(data.ledger)
    return page(request, "ledger.html", sql=sql, result=result, total=total, error=error,
                 **found)  # fmt: skip


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: what the page shows changed (a new approval request or alert,
    a halt); the page then fetches itself again."""
    streams: list[Session] = request.app[LIVE]
    session, data = session_of(request), request.app[DATA]
    mine = sum(s.person == session.person for s in streams)
    if len(streams) >= MAX_LIVE or mine >= MAX_LIVE_PER_PERSON:
        raise web.HTTPServiceUnavailable(text="too many live pages open")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    streams.append(session)
    last: dict[str, Any] | None = None
    try:
        while request.app[SESSIONS].get(request.cookies.get(COOKIE)) is session:
            try:
                now = await blocking(data.live)
            except Exception as exc:  # the ledger is busy or away: say nothing this time
                log.info("console: live update skipped (%s)", type(exc).__name__)
                now = last
            if now is not None and now != last:
                await response.write(f"data: {json.dumps(now, default=str)}\n\n".encode())
                last = now
            else:
                await response.write(b": still here\n\n")
            await asyncio.sleep(request.app[SETTINGS].live_poll_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        streams.remove(session)
    return response


async def serve(data: Data, settings: ConsoleSettings, stop: asyncio.Event) -> None:
    """Serve on ``settings.host``:``settings.port`` until ``stop`` is set."""
    runner = web.AppRunner(app(data, settings), access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.warning("handrail console on http://%s:%d/", settings.host, settings.port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
