"""The console with Kafka: it follows the control topics, and a decision signed in it
reaches the waiting agent (another process) through the broker, as the CLI's does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.settings import Settings
from tests.support.approvals import channel, channel_env, outcome, pending, start_agent
from tests.support.console_client import decide, sign_in
from tests.support.console_site import answers
from tests.support.ports import free_port
from tests.support.signers import key

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def console(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = channel_env(tmp_path, kafka_bootstrap)
    ledger = f"chdb://{tmp_path / 'ledger'}"
    client = connect(ledger)
    migrate(client)
    client.close()
    env["HANDRAIL_LEDGER__DSN"] = ledger
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "handrail", "console", "--port", str(port)],
        env={**os.environ, **env, "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool-console")},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    answers(url, process)
    yield url, env
    process.terminate()
    process.wait(30)


def test_an_approval_signed_in_the_console_reaches_the_agent_through_kafka(
    console: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, env = console
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # after the environment is set
    agent = start_agent(env, tmp_path)
    request = pending(settings)
    alice, token = sign_in(url, key("alice"))
    deadline = time.monotonic() + 30  # the console's follower reads the topic too
    while request.approval_id not in alice.get("/approvals").text:
        assert time.monotonic() < deadline, "the request never reached the console's inbox"
        time.sleep(0.2)
    answer = decide(alice, token, "/approvals/approve", key("alice"),
                    approval_id=request.approval_id, reason="checked in the console")  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert outcome(agent)["ran"] is True
    decided = channel(settings).approvals[request.approval_id]
    assert (decided.state, decided.decided_by) == ("granted", "alice")
    assert decided.decision_reason == "checked in the console"
