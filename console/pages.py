"""The console's HTTP side (aiohttp): pages, the sign-in, decisions, the SQL box, live
updates. Every request but the sign-in page and the static files needs a session; every
POST needs the session's CSRF token; a request naming another host is refused (no DNS
rebinding into a loopback console); errors are pages that say what went wrong, never a
stack trace."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, Final
from urllib.parse import quote

import jinja2
from aiohttp import web

from handrail.console import views
from handrail.console.data import Data
from handrail.console.sessions import Session, Sessions
from handrail.control.decisions import DecisionRefusedError, on_approval, on_halt
from handrail.governance.signing import DOMAIN, Decision, Refused, decode_signature, verify
from handrail.ledger.errors import NotInLedgerError, QueryError, QueryRefused
from handrail.producers.decisions import record_decision
from handrail.settings import ConsoleSettings

log = logging.getLogger(__name__)

COOKIE: Final = "handrail_console"
PUBLIC: Final = ("/signin", "/static/")
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
MAX_BODY: Final = 64 * 1024
MAX_LIVE: Final = 32
"""Live update streams open at once; past it a page updates on reload only."""
MAX_LIVE_PER_SESSION: Final = 4
SQL_ROWS_SHOWN: Final = 1000
"""Rows of a SQL box result drawn in the page (the count says how many there were)."""
SEVERITIES: Final = ("critical", "warning", "info")
HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say Origin: null
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DATA = web.AppKey("data", Data)
SESSIONS = web.AppKey("sessions", Sessions)
SETTINGS = web.AppKey("settings", ConsoleSettings)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
LIVE = web.AppKey("live", list)
DECIDING = web.AppKey("deciding", object)
SQL = web.AppKey("sql", ThreadPoolExecutor)
FILES = web.AppKey("files", dict)


def app(data: Data, settings: ConsoleSettings) -> web.Application:
    application = web.Application(middlewares=[_errors, _guard], client_max_size=MAX_BODY)
    application.on_response_prepare.append(_headers)
    application[DATA] = data
    application[SETTINGS] = settings
    application[SESSIONS] = Sessions(settings.session_minutes, settings.max_sessions)
    application[TEMPLATES] = _templates()
    application[LIVE] = []
    application[DECIDING] = Deciding()
    application[SQL] = ThreadPoolExecutor(1, thread_name_prefix="console-sql")
    application[FILES] = _static_files()
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


STATIC: Final = {"console.js": "text/javascript", "console.css": "text/css"}


def _static_files() -> dict[str, bytes]:
    folder = resources.files("handrail.console") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


async def static(request: web.Request) -> web.Response:
    """The console's own script and style sheet (read once, at start)."""
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound(text="no such file")
    body = request.app[FILES][name]
    return web.Response(body=body, content_type=STATIC[name],
                        headers={"Cache-Control": "max-age=300"})  # fmt: skip


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("handrail.console", "templates"),
        autoescape=True,
    )  # fmt: skip
    env.filters.update(money=views.money, ago=views.ago, when=views.when, segment=_quote)
    return env


# -- middlewares ------------------------------------------------------------------------------


def _page(request: web.Request, name: str, code: int = 200, **context: Any) -> web.Response:
    session: Session | None = request.get("session")
    html = (
        request.app[TEMPLATES]
        .get_template(name)
        .render(session=session, path=request.path, **context)
    )
    return web.Response(text=html, status=code, content_type="text/html")


async def index(_: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/approvals")


def _wants_json(request: web.Request) -> bool:
    return request.method == "POST" and request.path != "/ledger"


def _failure(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_json(request) or request.path == "/live":
        return web.json_response({"error": message}, status=status)
    return _page(request, "error.html", status, status=status, message=message)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else (
            exc.reason)  # fmt: skip
        return _failure(request, exc.status, reason)
    except (NotInLedgerError, QueryRefused, QueryError) as exc:
        return _failure(request, 404 if isinstance(exc, NotInLedgerError) else 400, str(exc))
    except Exception:
        log.exception("console: %s %s failed", request.method, request.path)
        return _failure(request, 500, "the console could not answer; its log says why")


def _host_allowed(request: web.Request, settings: ConsoleSettings) -> bool:
    """The Host header names loopback, ``console.host`` or an allowed name (compared as
    sent, port aside: no user info, no trailing dot)."""
    raw = request.headers.get("Host", "")
    name = raw[: raw.find("]") + 1] if raw.startswith("[") else raw.rsplit(":", 1)[0]
    return name in LOOPBACK or name == settings.host or name in settings.allowed_hosts


def _origin(request: web.Request, settings: ConsoleSettings) -> str:
    """Where the console's own pages come from: ``console.public_origin`` behind a proxy."""
    return settings.public_origin or f"{request.scheme}://{request.host}"


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not _host_allowed(request, settings):
        raise web.HTTPMisdirectedRequest(text="this console does not answer to that host name")
    public = request.path.startswith(PUBLIC)
    session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    if session is None and not public:
        if request.method == "GET" and request.path != "/live":
            raise web.HTTPSeeOther("/signin")
        raise web.HTTPUnauthorized(text="sign in first")
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and origin != _origin(request, settings):
            raise web.HTTPForbidden(text="a request from another site")
        if session is not None and not session.csrf_ok(await _csrf(request)):
            raise web.HTTPForbidden(text="the form is stale or forged (no valid CSRF token)")
    request["session"] = session
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """The security headers on every answer: pages, errors, redirects, files, streams."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


async def _csrf(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header is not None:
        return header
    if request.content_type == "application/x-www-form-urlencoded":
        return (await _form(request)).get("csrf")
    return None


def _session(request: web.Request) -> Session:
    session: Session | None = request.get("session")
    if session is None:
        raise web.HTTPUnauthorized(text="sign in first")
    return session


async def _form(request: web.Request) -> dict[str, str]:
    try:
        form = await request.post()
    except (UnicodeDecodeError, LookupError, ValueError):
        raise web.HTTPBadRequest(text="the form cannot be read (UTF-8 only)") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body is not a JSON object")
    return body


async def _blocking(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


# -- sign-in ----------------------------------------------------------------------------------


async def signin_page(request: web.Request) -> web.Response:
    return _page(request, "signin.html", challenge=request.app[SESSIONS].challenge())


async def signin(request: web.Request) -> web.Response:
    body = await _json(request)
    challenge, signature = body.get("challenge"), body.get("signature")
    if not isinstance(challenge, str) or not isinstance(signature, str):
        raise web.HTTPBadRequest(text="a sign-in names its challenge and signature")
    raw = decode_signature(signature)
    if isinstance(raw, Refused):
        raise web.HTTPBadRequest(text=raw.reason)
    keys = request.app[DATA].authority.people_keys
    outcome = request.app[SESSIONS].sign_in(challenge, raw, keys)
    if isinstance(outcome, Refused):
        raise web.HTTPForbidden(text=outcome.reason)
    token, session = outcome
    log.info("console: %s signed in", session.person)
    response = web.json_response({"person": session.person, "next": "/approvals"})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=_origin(request, request.app[SETTINGS]).startswith("https:"),
                        max_age=request.app[SETTINGS].session_minutes * 60)  # fmt: skip
    return response


async def signout(request: web.Request) -> web.Response:
    request.app[SESSIONS].end(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    raise response


# -- decisions --------------------------------------------------------------------------------


def _to_sign(session: Session, decision: Decision) -> web.Response:
    """The prepared decision, for the person's browser to sign and send back."""
    session.prepare(decision)
    return web.json_response({
        "text": (DOMAIN + decision.canonical().encode("ascii")).decode("ascii"),
        "nonce": decision.nonce, "url": f"/decisions/{decision.nonce}",
        "agent": decision.agent, "subject": decision.subject,
        "summary": f"{decision.kind.replace('_', ' ')}: {decision.agent} "
                   f"{decision.subject or ''} ({decision.reason})",
    })  # fmt: skip


async def prepare_approval(request: web.Request) -> web.Response:
    session, data = _session(request), request.app[DATA]
    form = await _form(request)
    approval_id, grant = form.get("approval_id", ""), request.match_info["verb"] == "approve"
    try:
        decision = data.state(lambda s: on_approval(
            data.authority, s, approval_id, signer=session.person,
            reason=form.get("reason", ""), grant=grant))  # fmt: skip
    except DecisionRefusedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None
    return _to_sign(session, decision)


async def prepare_resume(request: web.Request) -> web.Response:
    session, data = _session(request), request.app[DATA]
    form = await _form(request)
    agent, operation = form.get("agent", ""), form.get("operation") or None
    try:
        decision = data.state(lambda s: on_halt(
            data.authority, s, agent, operation, signer=session.person,
            reason=form.get("reason", "")))  # fmt: skip
    except DecisionRefusedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None
    return _to_sign(session, decision)


class Deciding:
    """Decisions this console recorded, by what they answer (an approval id, a halt's
    nonce): the follower sees a recorded decision a moment later, and until then a second
    one on the same request must not pass the same check."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()

    @staticmethod
    def _key(decision: Decision) -> tuple[str, str]:
        return (decision.subject, "") if decision.kind != "resume" else (
            decision.agent, decision.refers_to)  # fmt: skip

    def answered(self, decision: Decision) -> bool:
        return self._key(decision) in self._answered

    def remember(self, decision: Decision) -> None:
        self._answered[self._key(decision)] = None
        while len(self._answered) > 10_000:
            self._answered.popitem(last=False)


def _still_allowed(data: Data, decision: Decision) -> None:
    """The decision's signer still holds the right and it still answers something open."""
    if decision.kind == "resume":
        data.state(lambda s: on_halt(data.authority, s, decision.agent, decision.subject or None,
                                     signer=decision.signer, reason=decision.reason))  # fmt: skip
    else:
        data.state(lambda s: on_approval(data.authority, s, decision.subject,
                                         signer=decision.signer, reason=decision.reason,
                                         grant=decision.kind == "approval_granted"))  # fmt: skip


async def decide(request: web.Request) -> web.Response:
    """A prepared decision, signed in the person's browser: verified with their public key,
    checked again, recorded."""
    session, data = _session(request), request.app[DATA]
    body = await _json(request)
    decision = session.take(request.match_info["nonce"])
    if decision is None:
        raise web.HTTPNotFound(text="no such decision waits for your signature: prepare it again")
    signature = body.get("signature")
    raw = decode_signature(signature) if isinstance(signature, str) else Refused("no signature")
    if isinstance(raw, Refused):
        raise web.HTTPBadRequest(text=raw.reason)
    checked = verify(decision, raw, data.authority.people_keys)
    if isinstance(checked, Refused):
        raise web.HTTPForbidden(text=checked.reason)
    deciding: Deciding = request.app[DECIDING]  # type: ignore[assignment]
    async with deciding.lock:  # one decision at a time: two on one request cannot both pass
        if deciding.answered(decision):
            raise web.HTTPConflict(text="this console already recorded a decision on it")
        try:
            _still_allowed(data, decision)
        except DecisionRefusedError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        recorded = await _blocking(lambda: record_decision(data.settings, decision, raw))
        deciding.remember(decision)
    if not recorded:
        raise web.HTTPServiceUnavailable(
            text="Kafka did not take the decision; it waits in the spool and is sent when "
            "Kafka is back"
        )
    log.info("console: %s signed %s of %s %s", decision.signer, decision.kind, decision.agent,
             decision.subject)  # fmt: skip
    return web.json_response({"recorded": decision.kind, "by": decision.signer})


# -- pages ------------------------------------------------------------------------------------


async def approvals(request: web.Request) -> web.Response:
    items = await _blocking(request.app[DATA].approvals)
    return _page(request, "approvals.html", items=items, live="approvals")


def _alert_filters(request: web.Request) -> dict[str, str]:
    names = ("severity", "owner", "detector", "agent", "dedup_key", "state")
    return {n: request.query.get(n, "")[:200] for n in names if request.query.get(n)}


async def alerts(request: web.Request) -> web.Response:
    found = await _blocking(request.app[DATA].alerts)
    filters = _alert_filters(request)
    state = filters.get("state", "")
    shown = [
        a for a in found
        if all(a[k] == v for k, v in filters.items() if k != "state")
        and (state != "open" or a["resolved_at"] is None)
        and (state != "resolved" or a["resolved_at"] is not None)
    ]  # fmt: skip
    options = {k: sorted({a[k] for a in found if a[k]}) for k in ("owner", "detector", "agent")}
    return _page(request, "alerts.html", alerts=shown, filters=filters, options=options,
                 severities=SEVERITIES, live="alerts")  # fmt: skip


async def halts(request: web.Request) -> web.Response:
    data = request.app[DATA]
    held = data.state(lambda s: s.halts_in_force())
    shown = [{"agent": t[0], "operation": t[1], "notice": n,
              "resumers": sorted(data.authority.resumers(t[0]))} for t, n in held]  # fmt: skip
    return _page(request, "halts.html", halts=shown, live="halts")


async def workflows(request: web.Request) -> web.Response:
    ref = request.query.get("ref", "").strip()
    if ref:
        raise web.HTTPSeeOther(f"/workflows/{_quote(ref)}")
    found = await _blocking(request.app[DATA].recent_workflows)
    return _page(request, "workflows.html", workflows=found)


def _quote(ref: object) -> str:
    """``ref`` as one path segment (a slash in an id stays in it)."""
    return quote(str(ref)[:500], safe="")


async def workflow(request: web.Request) -> web.Response:
    ref, focus = request.match_info["ref"][:500], request.query.get("focus") or None
    tree = await _blocking(lambda: request.app[DATA].workflow(ref, focus))
    return _page(request, "workflow.html", tree=tree, picture=views.lanes(tree))


async def agents(request: web.Request) -> web.Response:
    found = await _blocking(request.app[DATA].agents)
    return _page(request, "agents.html", chart=views.chart(found["series"], found["bucket_s"]),
                 **found)  # fmt: skip


async def ledger(request: web.Request) -> web.Response:
    data = request.app[DATA]
    sql, result, error = "", None, None
    total = 0
    if request.method == "POST":
        session = _session(request)
        sql = (await _form(request)).get("sql", "")
        if session.querying:
            raise web.HTTPTooManyRequests(text="your last query is still running")
        session.querying = True
        try:  # on a thread of its own: a slow query never holds up the pages
            loop = asyncio.get_running_loop()
            rows = await loop.run_in_executor(request.app[SQL], data.sql, sql)
            total, result = len(rows), rows[:SQL_ROWS_SHOWN]
        except (QueryRefused, QueryError) as exc:
            error = str(exc)
        finally:
            session.querying = False
    found = await _blocking(data.ledger)
    return _page(request, "ledger.html", sql=sql, result=result, total=total, error=error,
                 **found)  # fmt: skip


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: what the page shows changed (a new approval request or alert,
    a halt); the page then fetches itself again."""
    streams: list[Session] = request.app[LIVE]
    session, data = _session(request), request.app[DATA]
    if len(streams) >= MAX_LIVE or streams.count(session) >= MAX_LIVE_PER_SESSION:
        raise web.HTTPServiceUnavailable(text="too many live pages open")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    streams.append(session)
    last: dict[str, Any] | None = None
    try:
        while request.app[SESSIONS].get(request.cookies.get(COOKIE)) is session:
            try:
                now = await _blocking(data.live)
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
