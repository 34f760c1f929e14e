"""``handrail run`` with Kafka configured: the ledger sink and a processors worker run as
child processes of it (real broker, real chdb ledger), and stop together with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handrail.ledger.owner_socket import socket_path
from handrail.ledger.reader import open_reader
from tests.support.processors_worker import WorkerTopics, agent_recorder
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(400)]


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_with_kafka_supervises_the_sink_and_a_worker_and_stops_both(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    log = tmp_path / "run.log"
    with Receiver() as receiver:
        env = {
            **os.environ,
            **topics.env(receiver.url("").rstrip("/"), tmp_path / "spool"),
            "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
            "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "HANDRAIL_LEDGER__CONSUMER_GROUP": f"sink-{topics.app_id}",
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
            assert len(kids) == 2
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
        finally:
            run.send_signal(signal.SIGTERM)
            code = run.wait(90)
    assert code == 0, log.read_text()[-3000:]
    assert not [k for k in kids if alive(k)], "a child outlived handrail run"
