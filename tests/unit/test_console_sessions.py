"""The console's sign-in and sessions (``console/sessions.py``): a session belongs to
whoever signed a fresh, one-time challenge with a key the governance file lists; it
expires; its CSRF token and its prepared decisions are its own."""

from __future__ import annotations

from handrail.console.sessions import (
    CHALLENGE_S,
    MAX_PREPARED,
    PER_PERSON,
    SIGN_IN_DOMAIN,
    Session,
    Sessions,
    sign_in_message,
)
from handrail.governance.signing import DOMAIN, Decision, Refused, generate, sign
from tests.support.signers import authority, key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _signature(name: str, challenge: str) -> bytes:
    return key(name).sign(sign_in_message(challenge)).signature


def test_the_holder_of_a_listed_key_signs_in_once_per_challenge() -> None:
    sessions = Sessions(minutes=10, max_sessions=8)
    keys = authority().people_keys
    challenge = sessions.challenge()
    outcome = sessions.sign_in(challenge, _signature("bob", challenge), keys)
    assert not isinstance(outcome, Refused)
    token, session = outcome
    assert session.person == "bob"
    assert sessions.get(token) is session
    again = sessions.sign_in(challenge, _signature("bob", challenge), keys)
    assert isinstance(again, Refused)
    assert "stale" in again.reason


def test_unknown_keys_other_messages_and_stale_challenges_are_refused() -> None:
    clock = Clock()
    sessions = Sessions(minutes=10, max_sessions=8, clock=clock)
    keys = authority().people_keys
    challenge = sessions.challenge()
    stranger = generate().sign(sign_in_message(challenge)).signature
    assert isinstance(sessions.sign_in(challenge, stranger, keys), Refused)
    challenge = sessions.challenge()  # a decision's signature over the same text is no sign-in
    as_decision = key("alice").sign(DOMAIN + challenge.encode()).signature
    assert isinstance(sessions.sign_in(challenge, as_decision, keys), Refused)
    assert isinstance(sessions.sign_in("made-up", _signature("alice", "made-up"), keys), Refused)
    challenge = sessions.challenge()
    clock.now += CHALLENGE_S + 1
    assert isinstance(sessions.sign_in(challenge, _signature("alice", challenge), keys), Refused)
    assert SIGN_IN_DOMAIN != DOMAIN


def test_a_session_expires_ends_and_the_oldest_goes_past_the_limit() -> None:
    clock = Clock()
    sessions = Sessions(minutes=1, max_sessions=2, clock=clock)
    keys = authority().people_keys
    tokens = []
    for _ in range(3):
        challenge = sessions.challenge()
        outcome = sessions.sign_in(challenge, _signature("alice", challenge), keys)
        assert not isinstance(outcome, Refused)
        tokens.append(outcome[0])
    assert sessions.get(tokens[0]) is None
    assert sessions.get(tokens[2]) is not None
    sessions.end(tokens[2])
    assert sessions.get(tokens[2]) is None
    clock.now += 61
    assert sessions.get(tokens[1]) is None
    assert sessions.get(None) is None
    assert sessions.get("") is None


def test_csrf_and_prepared_decisions_belong_to_their_session() -> None:
    session, other = Session("alice", 0.0), Session("alice", 0.0)
    assert session.csrf != other.csrf
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(other.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    decisions = [Decision("resume", "alice", "a", "", "n", "r") for _ in range(MAX_PREPARED + 1)]
    for decision in decisions:
        session.prepare(decision)
    assert session.take(decisions[0].nonce) is None  # the oldest was forgotten
    assert session.take(decisions[-1].nonce) is decisions[-1]
    assert session.take(decisions[-1].nonce) is None  # once
    assert other.take(decisions[1].nonce) is None
    assert sign(decisions[1], key("alice"))  # (a prepared decision is an ordinary one)


def test_many_challenges_push_out_nobody_and_one_person_ends_only_their_own_sessions() -> None:
    sessions = Sessions(minutes=10, max_sessions=64)
    keys = authority().people_keys
    waiting = sessions.challenge()  # alice opened the sign-in page
    for _ in range(5000):
        sessions.challenge()  # anyone can ask for these
    outcome = sessions.sign_in(waiting, _signature("alice", waiting), keys)
    assert not isinstance(outcome, Refused)
    alice_token = outcome[0]
    for _ in range(3 * PER_PERSON):  # mallory holds a key and no right
        challenge = sessions.challenge()
        assert not isinstance(sessions.sign_in(challenge, _signature("mallory", challenge),
                                               keys), Refused)  # fmt: skip
    assert sessions.get(alice_token) is not None
    garbage = sessions.challenge()
    assert isinstance(sessions.sign_in(garbage, b"\0" * 64, keys), Refused)
    assert not isinstance(sessions.sign_in(garbage, _signature("bob", garbage), keys), Refused)
