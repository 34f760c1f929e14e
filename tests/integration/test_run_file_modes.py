"""``handrail run`` keeps its tree private, started from a shell whose umask (022) would
let everyone read: once it has ingested an agent's events, no directory or file under
``.handrail`` (spool, control log, checkpoints, journal, the owner's files, the ClickHouse
engine's own parts) is open to the group or others; with ``files.group``, to others."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handrail.producers import Recorder
from handrail.settings import AgentIdentity, FileSettings, Settings, SpoolSettings
from tests.support.groups import team_group

pytestmark = pytest.mark.timeout(300)


def exposed(root: Path, mask: int) -> dict[str, str]:
    """What under ``root`` (itself included) has any of the ``mask`` bits."""
    found = {}
    for path in [root, *root.rglob("*")]:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:  # the engine renames parts as it merges them
            continue
        if not path.is_symlink() and mode & mask:
            found[str(path.relative_to(root))] = oct(mode)
    return found


@pytest.mark.parametrize("group", [None, team_group()], ids=["private", "group"])
def test_handrail_run_leaves_nothing_readable_by_others(tmp_path: Path, group: str | None) -> None:
    base, mask = tmp_path / ".handrail", 0o077 if group is None else 0o007
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDRAIL_")}
    if group is not None:
        env["HANDRAIL_FILES__GROUP"] = group
    with (tmp_path / "run.log").open("ab") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "handrail", "run"], cwd=tmp_path, env=env, umask=0o022,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        settings = Settings(
            spool=SpoolSettings(dir=base / "spool", control_log=base / "control.log"),
            files=FileSettings(group=group),
        )
        with Recorder(settings, AgentIdentity(name="summarizer")) as rec:
            for n in range(50):
                rec.decision("db.write", f"row {n} looked fine")
            rec.approval_requested("a-1", "refund", "over the limit")  # -> the control log
        # The pipeline deletes a finished session once the ledger and the detectors have it.
        deadline = time.monotonic() + 180
        while any((base / "spool").iterdir()):
            log_tail = (tmp_path / "run.log").read_text(errors="replace")[-3000:]
            assert run.poll() is None, f"handrail run exited: {log_tail}"
            assert time.monotonic() < deadline, f"the spool was not ingested: {log_tail}"
            time.sleep(0.2)
        running = exposed(base, mask)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    engine_files = [p for p in (base / "ledger").rglob("*") if p.is_file()]
    assert len(engine_files) > 20, "the ClickHouse engine's files were looked at"
    assert {p.name for p in base.iterdir()} >= {"spool", "ledger", "control.log", "checkpoints"}
    after = exposed(base, mask)
    assert not running, f"{len(running)} open while running: {sorted(running.items())[:10]}"
    assert not after, f"{len(after)} open after it stopped: {sorted(after.items())[:10]}"
