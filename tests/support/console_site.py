"""The console over the demo's data, as a person meets it: ``handrail demo`` fills a ledger,
then ``handrail run`` serves it with the console on (a child process it supervises); agents
of the test record through the same spool and control log. The governance file is the
demo's with bob added: he has a key and no right to approve or resume."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from nacl.signing import SigningKey
from rich.console import Console

from handrail.demo.scenario import approver_key
from handrail.demo.show import Demo, run_env
from handrail.governance.signing import (
    generate,
    load_private_key,
    public_key_line,
    write_private_key,
)
from handrail.producers import ActionBlockedError, Recorder
from handrail.settings import AgentIdentity, GovernanceSettings, Settings
from tests.support.approvals import channel
from tests.support.ports import free_port

QUERY_S = 20
"""The ledger's read time limit on the site (a slow query ends within it)."""


@dataclass
class Site:
    url: str
    settings: Settings
    """The demo's, under the governance file with bob."""
    keys: dict[str, Path]
    """Each person's private key file."""
    bad_write: str
    """The event id of the demo's bad database write."""
    log: Path

    def key(self, name: str) -> SigningKey:
        return load_private_key(self.keys[name])


def _governance(demo: Demo) -> tuple[Path, dict[str, Path]]:
    directory = demo.settings.spool.control_log.parent
    bob = directory / "bob.key"
    write_private_key(bob, generate())
    text = (directory / "demo-governance.yaml").read_text()
    line = public_key_line(load_private_key(bob).verify_key)
    text = text.replace("\npeople:\n", f"\npeople:\n  bob: {{keys: ['{line}']}}\n", 1)
    path = directory / "console-governance.yaml"
    path.write_text(text)
    return path, {"alice": approver_key(demo.settings), "bob": bob}


def answers(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    """Wait until the console at ``url`` answers (a console, or ``handrail run`` that
    starts one once the ledger is open); ``process`` must not exit meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the console's process exited"
        try:
            if httpx.get(f"{url}/signin", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the console did not answer within {timeout_s:.0f} s")


def serve(base: Path) -> tuple[Site, subprocess.Popen[bytes]]:
    """The demo's data, then ``handrail run`` with the console on; the caller stops it."""
    demo = Demo(base / "demo", None, Console(file=io.StringIO()))
    result = demo.run(seconds=25, settle_s=40)
    assert not result.missing(), result.missing()
    governance, keys = _governance(demo)
    settings = demo.settings.model_copy(deep=True)
    settings.governance = GovernanceSettings(file=governance)
    port = free_port()
    env = {**os.environ, **run_env(demo.settings), "HANDRAIL_GOVERNANCE__FILE": str(governance),
           "HANDRAIL_CONSOLE__ENABLED": "true", "HANDRAIL_CONSOLE__PORT": str(port),
           "HANDRAIL_CONSOLE__LIVE_POLL_S": "0.5", "HANDRAIL_OTLP__ENABLED": "false",
           "HANDRAIL_LEDGER__READS__MAX_SECONDS": str(QUERY_S)}  # fmt: skip
    log = base / "console-run.log"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "handrail", "run"], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        answers(url, child)
    except BaseException:
        stop(child)
        raise
    return Site(url, settings, keys, demo.refs[0][1], log), child


def stop(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def requested(settings: Settings, approval_ids: set[str], timeout_s: float = 30.0) -> None:
    """Wait until every one of ``approval_ids`` is pending on the control channel."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if approval_ids <= {a.approval_id for a in channel(settings).pending()}:
            return
        time.sleep(0.1)
    raise AssertionError(f"never requested: {approval_ids}")


class WaitingAgent(threading.Thread):
    """An agent whose guarded call waits for a person's approval: ``outcome`` is "ran"
    once it was granted, else why the call was blocked."""

    def __init__(self, settings: Settings, agent: str, action: str, cost_usd: float,
                 workflow: str) -> None:  # fmt: skip
        super().__init__(name=f"waiting-{agent}", daemon=True)
        self.settings, self.agent, self.action = settings, agent, action
        self.cost_usd, self.workflow = cost_usd, workflow
        self.outcome: str | None = None
        self.start()

    def run(self) -> None:
        with Recorder(self.settings, AgentIdentity(name=self.agent, owner="team-data")) as rec:
            try:
                with rec.workflow(self.workflow), rec.guard(self.action, cost_usd=self.cost_usd):
                    self.outcome = "ran"
            except ActionBlockedError as blocked:
                self.outcome = blocked.outcome
            rec.flush(10)

    def result(self, timeout_s: float = 60.0) -> str | None:
        self.join(timeout_s)
        return self.outcome
