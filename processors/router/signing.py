"""HMAC-SHA256 signatures of generic-webhook deliveries, and how a receiver checks them.

Every POST carries two headers:

* ``X-Handrail-Timestamp``: Unix time in whole seconds when the request was signed;
* ``X-Handrail-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the shared secret,
  of ``timestamp + "." + body`` — the timestamp header's value, a dot, then the exact
  request body bytes (not re-serialised JSON).

To verify, a receiver recomputes the HMAC over the raw body it received, compares it in
constant time, and rejects timestamps too far from its own clock (replays)::

    import hashlib, hmac, time

    def verify(secret: bytes, body: bytes, timestamp: str, signature: str) -> bool:
        expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
        fresh = abs(time.time() - int(timestamp)) <= 300
        return fresh and hmac.compare_digest("sha256=" + expected.hexdigest(), signature)

``verify_signature`` below is that recipe. Each retry is signed afresh.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Handrail-Signature"
TIMESTAMP_HEADER = "X-Handrail-Timestamp"
DEFAULT_TOLERANCE_S = 300.0


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``timestamp.body`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_headers(secret: str | bytes, body: bytes, *, now: float) -> dict[str, str]:
    """The two headers that sign ``body`` at time ``now``."""
    timestamp = int(now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether ``signature`` signs ``body`` at ``timestamp`` and the timestamp is fresh."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)
