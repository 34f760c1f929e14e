"""Signing in and deciding: the sign-in page and its signed challenge, signing out; a
decision prepared for the person's browser to sign (``to_sign``), then verified with
their public key, checked again and recorded, one at a time (``Deciding``)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from aiohttp import web

from handrail.console.data import Data
from handrail.console.guard import origin
from handrail.console.sessions import Session
from handrail.console.web import (
    COOKIE,
    DATA,
    SESSIONS,
    SETTINGS,
    blocking,
    form,
    json_body,
    page,
    session_of,
)
from handrail.control.decisions import DecisionRefusedError, on_approval, on_halt
from handrail.governance.signing import DOMAIN, Decision, Refused, decode_signature, verify
from handrail.producers.decisions import record_decision
from handrail.producers.errors import InvalidEventError

log = logging.getLogger(__name__)


async def signin_page(request: web.Request) -> web.Response:
    return page(request, "signin.html", challenge=request.app[SESSIONS].challenge())


async def signin(request: web.Request) -> web.Response:
    body = await json_body(request)
    challenge, signature = body.get("challenge"), body.get("signature")
    if not isinstance(challenge, str) or not isinstance(signature, str):
        raise web.HTTPBadRequest(text="a sign-in names its challenge and signature")
    raw = decode_signature(signature)
    if isinstance(raw, Refused):
        raise web.HTTPBadRequest(text=raw.reason)
    keys = request.app[DATA].authority.people_keys
    outcome = request.app[SESSIONS].sign_in(challenge, raw, keys)
    if isinstance(outcome, Refused):
        log.warning("console: a sign-in from %s refused: %s", request.remote, outcome.reason)
        raise web.HTTPForbidden(text=outcome.reason)
    token, session = outcome
    log.info("console: %s signed in", session.person)
    response = web.json_response({"person": session.person, "next": "/approvals"})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=origin(request, request.app[SETTINGS]).startswith("https:"),
                        max_age=request.app[SETTINGS].session_minutes * 60)  # fmt: skip
    return response


async def signout(request: web.Request) -> web.Response:
    request.app[SESSIONS].end(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    raise response


def to_sign(session: Session, decision: Decision) -> web.Response:
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
    session, data = session_of(request), request.app[DATA]
    fields = await form(request)
    approval_id, grant = fields.get("approval_id", ""), request.match_info["verb"] == "approve"
    try:
        decision = data.state(lambda s: on_approval(
            data.authority, s, approval_id, signer=session.person,
            reason=fields.get("reason", ""), grant=grant))  # fmt: skip
    except DecisionRefusedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None
    return to_sign(session, decision)


async def prepare_resume(request: web.Request) -> web.Response:
    session, data = session_of(request), request.app[DATA]
    fields = await form(request)
    agent, operation = fields.get("agent", ""), fields.get("operation") or None
    try:
        decision = data.state(lambda s: on_halt(
            data.authority, s, agent, operation, signer=session.person,
            reason=fields.get("reason", "")))  # fmt: skip
    except DecisionRefusedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None
    return to_sign(session, decision)


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


DECIDING = web.AppKey("deciding", Deciding)


def still_allowed(data: Data, decision: Decision) -> None:
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
    session, data = session_of(request), request.app[DATA]
    body = await json_body(request)
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
    deciding: Deciding = request.app[DECIDING]
    async with deciding.lock:  # one decision at a time: two on one request cannot both pass
        if deciding.answered(decision):
            raise web.HTTPConflict(text="this console already recorded a decision on it")
        try:
            still_allowed(data, decision)
        except DecisionRefusedError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        try:
            recorded = await blocking(lambda: record_decision(data.settings, decision, raw))
        except InvalidEventError as exc:  # what it answers was not written by the SDK
            raise web.HTTPBadRequest(text=f"this decision cannot be recorded: {exc}") from None
        deciding.remember(decision)
    if not recorded:
        raise web.HTTPServiceUnavailable(
            text="Kafka did not take the decision; it waits in the spool and is sent when "
            "Kafka is back"
        )
    log.info("console: %s signed %s of %s %s", decision.signer, decision.kind, decision.agent,
             decision.subject)  # fmt: skip
    return web.json_response({"recorded": decision.kind, "by": decision.signer})
