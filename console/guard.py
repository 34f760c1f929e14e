"""The console's middlewares: every answer carries the security headers; a request naming
another host is refused (no DNS rebinding into a loopback console); every request but the
sign-in page and the static files needs a session, every POST the session's CSRF token
and the console's own origin; errors are pages that say what went wrong, never a stack
trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from handrail.console.web import COOKIE, SESSIONS, SETTINGS, failure, form
from handrail.ledger.errors import NotInLedgerError, QueryError, QueryRefused
from handrail.settings import ConsoleSettings

log = logging.getLogger(__name__)

PUBLIC: Final = ("/signin", "/static/")
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
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


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else (
            exc.reason)  # fmt: skip
        return failure(request, exc.status, reason)
    except (NotInLedgerError, QueryRefused, QueryError) as exc:
        return failure(request, 404 if isinstance(exc, NotInLedgerError) else 400, str(exc))
    except Exception:
        log.exception("console: %s %s failed", request.method, request.path)
        return failure(request, 500, "the console could not answer; its log says why")


def host_allowed(request: web.Request, settings: ConsoleSettings) -> bool:
    """The Host header names loopback, ``console.host`` or an allowed name (compared as
    sent, port aside: no user info, no trailing dot)."""
    raw = request.headers.get("Host", "")
    name = raw[: raw.find("]") + 1] if raw.startswith("[") else raw.rsplit(":", 1)[0]
    return name in LOOPBACK or name == settings.host or name in settings.allowed_hosts


def origin(request: web.Request, settings: ConsoleSettings) -> str:
    """Where the console's own pages come from: ``console.public_origin`` behind a proxy."""
    return settings.public_origin or f"{request.scheme}://{request.host}"


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not host_allowed(request, settings):
        raise web.HTTPMisdirectedRequest(text="this console does not answer to that host name")
    public = request.path.startswith(PUBLIC)
    session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    if session is None and not public:
        if request.method == "GET" and request.path != "/live":
            raise web.HTTPSeeOther("/signin")
        raise web.HTTPUnauthorized(text="sign in first")
    if request.method == "POST":
        sent = request.headers.get("Origin")
        if sent is not None and sent != origin(request, settings):
            raise web.HTTPForbidden(text="a request from another site")
        signing_in = request.path == "/signin"  # the signed challenge is its own proof
        if session is not None and not signing_in and not session.csrf_ok(await csrf(request)):
            raise web.HTTPForbidden(text="the form is stale or forged (no valid CSRF token)")
    request["session"] = session
    return await handler(request)


async def headers(request: web.Request, response: web.StreamResponse) -> None:
    """The security headers on every answer: pages, errors, redirects, files, streams."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


async def csrf(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header is not None:
        return header
    if request.content_type == "application/x-www-form-urlencoded":
        return (await form(request)).get("csrf")
    return None
