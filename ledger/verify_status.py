"""The outcome of the last ``ledger verify`` and ``ledger digest``, kept beside the
checkpoints (``last-verify.json``, private) for the console to show. It says what was
checked and when; it proves nothing by itself: ``verify`` does, each time it runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handrail.files import FileModes
from handrail.ledger.verify import Report

NAME = "last-verify.json"
SHOWN_FINDINGS = 5
_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class VerifyStatus:
    at: str
    ok: bool
    chains: int
    rows: int
    findings: int
    first_findings: list[str]
    digest_created_at: str | None = None
    """The digest ``verify --digest`` held the ledger against, or the one ``digest`` took."""
    digest_sha256: str | None = None
    command: str = "verify"


def record(
    checkpoints: Path, modes: FileModes, report: Report, command: str, *,
    digest_created_at: str | None = None, digest_sha256: str | None = None,
) -> None:  # fmt: skip
    status = VerifyStatus(
        datetime.now(UTC).isoformat(timespec="seconds"), report.ok, report.chains, report.rows,
        len(report.broken), [str(f) for f in report.broken[:SHOWN_FINDINGS]],
        digest_created_at, digest_sha256, command,
    )  # fmt: skip
    modes.directory(checkpoints)
    modes.write(checkpoints / NAME, json.dumps(asdict(status)))


def last(checkpoints: Path) -> VerifyStatus | None:
    """The last status recorded, None when none was (or it cannot be read)."""
    try:
        with (checkpoints / NAME).open("rb") as f:
            raw: Any = json.loads(f.read(_MAX_BYTES))
        return VerifyStatus(**raw)
    except (OSError, ValueError, TypeError, RecursionError):
        return None
