"""Who is signed in (pure apart from the clock): sign-in challenges, sessions, the CSRF
token of each, and the decisions a session prepared for its person to sign.

A person signs in by signing a fresh one-time challenge with their private key, in their
browser (the key never leaves it); the signature is checked against every person's public
keys in the governance file, so the session belongs to whoever holds the key. The signed
text starts with its own domain tag: a sign-in signature is no decision's, nor the reverse.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from handrail.governance.signing import Decision, PublicKeys, Refused, verifies

SIGN_IN_DOMAIN: Final = b"handrail console sign-in v1\n"
CHALLENGE_S: Final = 300.0
"""How long a sign-in challenge may be answered."""
MAX_SPENT: Final = 100_000
"""Answered challenges remembered (until they expire) so that none is used twice."""
PER_PERSON: Final = 8
"""Sessions one person may hold; past it their own oldest ends."""
MAX_PREPARED: Final = 16
"""Decisions a session may hold prepared and unsigned; past it the oldest is forgotten."""


def sign_in_message(challenge: str) -> bytes:
    return SIGN_IN_DOMAIN + challenge.encode("ascii")


@dataclass(slots=True)
class Session:
    person: str
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    prepared: OrderedDict[str, Decision] = field(default_factory=OrderedDict)
    """Decisions shown to be signed, by nonce: only these are accepted signed."""

    def prepare(self, decision: Decision) -> None:
        self.prepared[decision.nonce] = decision
        while len(self.prepared) > MAX_PREPARED:
            self.prepared.popitem(last=False)

    def take(self, nonce: str) -> Decision | None:
        """The prepared decision of ``nonce``, once."""
        return self.prepared.pop(nonce, None)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(
        self, minutes: int, max_sessions: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = minutes * 60.0
        self._max = max_sessions
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._spent: OrderedDict[str, float] = OrderedDict()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def challenge(self) -> str:
        """A new one-time challenge to sign: its expiry and a random part, authenticated
        with this process's secret, so that issuing many keeps nothing (nobody's pending
        sign-in can be pushed out)."""
        body = f"{self._clock() + CHALLENGE_S:.3f}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), "sha256").hexdigest()[:32]

    def _issued(self, challenge: str) -> bool:
        """Issued by this process and not expired."""
        body, _, mac = challenge.rpartition(".")
        if not hmac.compare_digest(self._mac(body).encode(), mac.encode("utf-8", "replace")):
            return False
        try:
            return float(body.rpartition(".")[0]) >= self._clock()
        except ValueError:
            return False

    def _spend(self, challenge: str) -> bool:
        """Mark an answered challenge spent; False if it was already."""
        now = self._clock()
        while self._spent and next(iter(self._spent.values())) < now:
            self._spent.popitem(last=False)
        if challenge in self._spent:
            return False
        self._spent[challenge] = now + CHALLENGE_S
        while len(self._spent) > MAX_SPENT:  # only signed answers get here
            self._spent.popitem(last=False)
        return True

    def sign_in(
        self, challenge: str, signature: bytes, keys: PublicKeys
    ) -> tuple[str, Session] | Refused:
        """A new session (its cookie token, itself) for the person whose key signed
        ``challenge``, a challenge this process issued, still fresh, answered once."""
        if not self._issued(challenge):
            return Refused("the sign-in page is stale: load it again")
        message = sign_in_message(challenge)
        owners = [name for name, held in keys.items()
                  if any(verifies(k, message, signature) for k in held)]  # fmt: skip
        if not owners:
            return Refused("this key belongs to nobody under `people` in the governance file")
        if not self._spend(challenge):
            return Refused("the sign-in page is stale: load it again")
        token = secrets.token_urlsafe(32)
        session = Session(owners[0], self._clock() + self._ttl)
        mine = [t for t, s in self._sessions.items() if s.person == session.person]
        for old in mine[: max(0, len(mine) - PER_PERSON + 1)]:
            del self._sessions[old]
        self._sessions[token] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie token, if any."""
        session = self._sessions.get(token) if token else None
        if session is not None and session.expires < self._clock():
            del self._sessions[token]  # type: ignore[arg-type]
            return None
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)
