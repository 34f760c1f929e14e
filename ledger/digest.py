"""A digest of the ledger's chain heads, kept away from the machine (pure, no I/O).

The checkpoints sit beside the ledger: whoever can rewrite the ledger can rewrite them too
(recompute every hash after an edit, move a checkpoint back after dropping the last rows),
and plain ``verify`` then passes. A digest closes that gap as the digests of immudb and
Amazon QLDB do: ``handrail ledger digest`` writes, for a ledger that verifies, every chain's
head (its key, last offset, row hash, row count), which an auditor keeps elsewhere;
``handrail ledger verify --digest FILE`` later proves that the ledger still extends exactly
that history: each chain of the digest is there, and its row at the digest's offset
carries the digest's hash (each row's hash covers the previous one's, so the whole chain up
to it is as it was), with as many chained rows up to it.

The file is JSON::

    {"chains": [{"offset": 41, "partition": 0, "row_hash": "9f…", "rows": 42,
                 "topic": "handrail.events", "uncovered_until": -1}, ...],
     "created_at": "2026-03-02T10:00:00Z", "format": "handrail-ledger-digest/1",
     "sha256": "…"}

``sha256`` is SHA-256 (hex) of the canonical body: the object without ``sha256``, keys
sorted, no whitespace, ASCII (Python's ``json.dumps(body, sort_keys=True,
separators=(",", ":"))``), so that the file itself can be checked; not a signature: anyone
can compute it, which is why the file (or its ``sha256``) is kept off the machine.
``uncovered_until`` bounds where a chain may hold quarantine rows written before they were
chained (``checkpoints.py``), so a checkpoint rewritten to widen it is caught too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from handrail.ledger.errors import LedgerError

FORMAT = "handrail-ledger-digest/1"


class DigestError(LedgerError):
    """A digest file that is not one, or whose ``sha256`` does not match its body."""


@dataclass(frozen=True, order=True)
class ChainHead:
    """One chain's head: its last row's offset and hash, and its chained rows."""

    topic: str
    partition: int
    offset: int
    row_hash: str
    rows: int
    uncovered_until: int = -1


@dataclass(frozen=True)
class Digest:
    created_at: str
    """When the digest was taken (UTC, ISO 8601)."""
    chains: tuple[ChainHead, ...]

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "chains": [asdict(head) for head in sorted(self.chains)],
        }

    @property
    def sha256(self) -> str:
        return body_sha256(self.body())

    def to_json(self) -> str:
        """The file's text (indented for people; ``sha256`` is of the canonical body)."""
        return json.dumps({**self.body(), "sha256": self.sha256}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Digest:
        """The digest of a file's text; ``DigestError`` for anything else, or a file whose
        body does not hash to its ``sha256``."""
        try:
            data = json.loads(text)
            claimed = data.pop("sha256")
            if data.get("format") != FORMAT:
                raise DigestError(f"not a {FORMAT} file (format {data.get('format')!r})")
            digest = cls(
                str(data["created_at"]),
                tuple(ChainHead(**head) for head in data["chains"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise DigestError(f"not a ledger digest: {exc!r}") from None
        if body_sha256(data) != claimed:
            raise DigestError("the digest's sha256 does not match its body: it was altered")
        return digest


def body_sha256(body: dict[str, Any]) -> str:
    """SHA-256 of a digest's canonical body (see the module's docstring)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def extends(head: ChainHead, found: set[str], rows: int | None) -> str | None:
    """What is wrong with a chain against its head in a digest, or None: ``found`` holds
    the hashes of the ledger's rows at the head's offset, ``rows`` the chained rows up to
    there (None: the chain is not in the ledger)."""
    if rows is None:
        return f"the digest's chain is not in the ledger (its head: offset {head.offset})"
    if not found:
        return f"the digest's row at offset {head.offset} is missing: rows were deleted"
    if head.row_hash not in found:
        return (
            f"the row at offset {head.offset} does not carry the digest's hash: the history "
            "up to it was rewritten"
        )
    if rows != head.rows:
        return f"{rows} chained rows up to offset {head.offset}, the digest has {head.rows}"
    return None
