"""What every handler of the console shares: the application's keys, the pages'
templates and how a page or an error is answered, the request's session, form and body,
blocking work on a thread, the console's own static files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, Final
from urllib.parse import quote

import jinja2
from aiohttp import web

from handrail.console import views
from handrail.console.data import Data
from handrail.console.sessions import Session, Sessions
from handrail.settings import ConsoleSettings

COOKIE: Final = "handrail_console"
DATA = web.AppKey("data", Data)
SESSIONS = web.AppKey("sessions", Sessions)
SETTINGS = web.AppKey("settings", ConsoleSettings)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
LIVE = web.AppKey("live", list)
SQL = web.AppKey("sql", ThreadPoolExecutor)
FILES = web.AppKey("files", dict)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("handrail.console", "templates"),
        autoescape=True,
    )  # fmt: skip
    env.filters.update(money=views.money, ago=views.ago, when=views.when, segment=segment)
    return env


def segment(ref: object) -> str:
    """``ref`` as one path segment (a slash in an id stays in it)."""
    return quote(str(ref)[:500], safe="")


def page(request: web.Request, name: str, code: int = 200, **context: Any) -> web.Response:
    session: Session | None = request.get("session")
    html = (
        request.app[TEMPLATES]
        .get_template(name)
        .render(session=session, path=request.path, **context)
    )
    return web.Response(text=html, status=code, content_type="text/html")


def wants_json(request: web.Request) -> bool:
    return request.method == "POST" and request.path != "/ledger"


def failure(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request) or request.path == "/live":
        return web.json_response({"error": message}, status=status)
    return page(request, "error.html", status, status=status, message=message)


def session_of(request: web.Request) -> Session:
    session: Session | None = request.get("session")
    if session is None:
        raise web.HTTPUnauthorized(text="sign in first")
    return session


async def form(request: web.Request) -> dict[str, str]:
    try:
        fields = await request.post()
    except (UnicodeDecodeError, LookupError, ValueError):
        raise web.HTTPBadRequest(text="the form cannot be read (UTF-8 only)") from None
    return {k: v for k, v in fields.items() if isinstance(v, str)}


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body is not a JSON object")
    return body


async def blocking(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


STATIC: Final = {"console.js": "text/javascript", "console.css": "text/css"}


def static_files() -> dict[str, bytes]:
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
