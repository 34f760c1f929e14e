"""A person at the console without a browser: signs in with their key as the page's script
does (the one-time challenge, signed), then reads pages and posts as the pages do."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
from nacl.signing import SigningKey

from handrail.console.sessions import sign_in_message
from handrail.governance.signing import Decision, sign


def challenge(client: httpx.Client) -> str:
    page = client.get("/signin")
    found = re.search(r'data-challenge="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(base_url: str, key: SigningKey) -> tuple[httpx.Client, str]:
    """A client holding ``key``'s owner's session, and the session's CSRF token."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    text = challenge(client)
    signature = base64.b64encode(key.sign(sign_in_message(text)).signature).decode()
    answer = client.post("/signin", json={"challenge": text, "signature": signature})
    assert answer.status_code == 200, answer.text
    return client, csrf(client)


def csrf(client: httpx.Client) -> str:
    page = client.get("/approvals")
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def decide(client: httpx.Client, token: str, action: str, key: SigningKey,
           **form: str) -> httpx.Response:  # fmt: skip
    """Prepare a decision (``action``), sign what the console asks to sign, send it back."""
    prepared = client.post(action, data={"csrf": token, **form})
    if prepared.status_code != 200:
        return prepared
    body: dict[str, Any] = prepared.json()
    text = body["text"]
    signature = key.sign(text.encode("ascii")).signature
    assert text.encode("ascii") == b"handrail decision v1\n" + Decision.parse(
        text.split("\n", 1)[1]).canonical().encode()  # fmt: skip
    return client.post(body["url"], json={"signature": base64.b64encode(signature).decode()},
                       headers={"X-CSRF-Token": token})  # fmt: skip


__all__ = ["challenge", "csrf", "decide", "sign", "sign_in"]
