"""``handrail run`` with Kafka configured: the ledger sink, a processors worker and the OTLP
receiver run as child processes of it (real broker, real chdb ledger), and stop together
with it; spans posted to the receiver reach the ledger through Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import open_reader
from tests.support.ports import free_port
from tests.support.processors_worker import WorkerTopics, agent_recorder
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(400)]


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def post_span(port: int, deadline: float) -> None:
    """One tool-call span, in OTLP JSON, to the receiver (once it listens)."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "00000000000000b1",
        "name": "execute_tool search",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
            {"key": "gen_ai.tool.name", "value": {"stringValue": "search"}},
            {"key": "gen_ai.conversation.id", "value": {"stringValue": "wf-otlp"}},
        ],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/traces",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert answer.status == 200
                return
        except OSError:
            assert time.monotonic() < deadline, "the OTLP receiver never listened"
            time.sleep(0.5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_with_kafka_supervises_the_sink_a_worker_and_the_otlp_receiver_and_stops_them(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    otlp_port = free_port()
    log = tmp_path / "run.log"
    with Receiver() as receiver:
        env = {
            **os.environ,
            **topics.env(receiver.url("").rstrip("/"), tmp_path / "spool"),
            "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
            "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "HANDRAIL_LEDGER__CONSUMER_GROUP": f"sink-{topics.app_id}",
            "HANDRAIL_OTLP__PORT": str(otlp_port),
        }
        run = subprocess.Popen(
            [sys.executable, "-m", "handrail", "run"], env=env, cwd=tmp_path,
            stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline, owner_file = time.monotonic() + 180, socket_path(tmp_path / "ledger")
            while b"Ready" not in log.read_bytes() or not owner_file.exists():
                assert run.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            kids = children(run.pid)
            assert len(kids) == 3
            post_span(otlp_port, deadline)
            with agent_recorder(topics, tmp_path, "payer") as rec, rec.workflow("wf-k"):
                for attempt in range(1, 6):
                    rec.retry("api.charge", "op-1", attempt, "HTTP 503")
            (page, *_) = receiver.wait_for("/pd", 1, timeout=120)
            assert page.json["dedup_key"] == "retry-storm:payer:op-1"
            deadline = time.monotonic() + 120
            while (
                n := open_reader(f"chdb://{tmp_path / 'ledger'}").query(
                    "SELECT count() AS n FROM events WHERE workflow_id = 'wf-k'"
                )[0]["n"]
            ) < 5:
                assert time.monotonic() < deadline, f"{n} rows"
                time.sleep(0.5)
            while not open_reader(f"chdb://{tmp_path / 'ledger'}").query(
                "SELECT count() AS n FROM events WHERE workflow_id = 'wf-otlp'"
            )[0]["n"]:
                assert time.monotonic() < deadline, "the span never reached the ledger"
                time.sleep(0.5)
        finally:
            run.send_signal(signal.SIGTERM)
            code = run.wait(90)
    assert code == 0, log.read_text()[-3000:]
    assert not [k for k in kids if alive(k)], "a child outlived handrail run"
