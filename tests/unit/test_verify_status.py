"""The outcome of the last ``ledger verify``/``digest`` kept for the console
(``ledger/verify_status.py``): written privately, read back, and an unreadable or hostile
file is no status rather than an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from handrail.files import PRIVATE
from handrail.ledger import verify_status
from handrail.ledger.verify import Report


def test_the_last_outcome_is_kept_privately_and_read_back(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    assert verify_status.last(checkpoints) is None
    report = Report(chains=2, rows=40, broken=[f"link {n} broken" for n in range(7)])  # type: ignore[list-item]
    at = "2026-12-01T00:00:00Z"
    verify_status.record(checkpoints, PRIVATE, report, "verify", digest_created_at=at,
                         digest_sha256="ab" * 32)  # fmt: skip
    status = verify_status.last(checkpoints)
    assert status is not None
    assert (status.ok, status.chains, status.rows, status.findings) == (False, 2, 40, 7)
    assert status.first_findings == [f"link {n} broken" for n in range(5)]
    assert (status.command, status.digest_created_at) == ("verify", at)
    mode = stat.S_IMODE(os.stat(checkpoints / verify_status.NAME).st_mode)
    assert mode & 0o077 == 0
    verify_status.record(checkpoints, PRIVATE, Report(chains=1, rows=3), "digest")
    assert verify_status.last(checkpoints).ok  # type: ignore[union-attr]


def test_a_hostile_status_file_is_no_status(tmp_path: Path) -> None:
    path = tmp_path / verify_status.NAME
    for text in (
        "not json",
        "[]",
        '{"ok": true}',
        '{"at": 1, "extra": 2}',
        "{" * 100_000,
        "[" * 60_000,
    ):
        path.write_text(text)
        assert verify_status.last(tmp_path) is None
