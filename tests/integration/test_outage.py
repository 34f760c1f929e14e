"""Broker outages: the agent keeps going, nothing is lost, nothing arrives twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka_broker import KafkaBroker

from handrail.producers import Recorder
from handrail.schemas import decode
from handrail.settings import AgentIdentity
from tests.support.kafka_io import kafka_settings, read_topic

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def delivered_ids(bootstrap: str, topic: str, expect: int) -> Counter[str]:
    messages = read_topic(bootstrap, topic, expect=expect, timeout=120)
    return Counter(str(decode(m.value)[1]["event_id"]) for m in messages)


@pytest.mark.parametrize("shipper", ["thread", "process"])
def test_broker_stopped_mid_stream(
    own_broker: KafkaBroker, topic: str, tmp_path: Path, shipper: str
) -> None:
    settings = kafka_settings(
        own_broker.bootstrap, topic, tmp_path / "spool", send_timeout_s=1.0,
        retry_backoff_max_s=0.5, shipper=shipper,
    )  # fmt: skip
    rec = Recorder(settings, AgentIdentity(name="steady"))
    ids: list[str] = []
    slowest = 0.0
    stop = threading.Event()

    def agent() -> None:  # ~1,000 events/s until told to stop; any exception fails the test
        nonlocal slowest
        with rec.workflow():
            while not stop.is_set():
                for _ in range(10):
                    t = time.perf_counter()
                    ids.append(rec.spend(0.01, "openai", "gpt").event_id)
                    slowest = max(slowest, time.perf_counter() - t)
                time.sleep(0.01)

    worker = threading.Thread(target=agent)
    worker.start()
    time.sleep(2)
    own_broker.stop()  # mid-stream
    time.sleep(4)
    assert worker.is_alive()
    assert rec.stats().state == "degraded"
    own_broker.start()
    time.sleep(2)
    stop.set()
    worker.join()
    assert rec.close(60)
    stats = rec.stats()
    assert stats.spooled > 0, "the outage should have sent events to the spool"
    assert slowest < 0.5, f"a record call blocked for {slowest:.3f}s"

    counts = delivered_ids(own_broker.bootstrap, topic, len(ids))
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1, "an event arrived twice"
    assert not list((tmp_path / "spool").rglob("seg-*.avro")), "spool should be empty"


def spawn(
    bootstrap: str, topic: str, spool: Path, count: int, ids: Path, *flags: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.agent_process",
            bootstrap,
            topic,
            str(spool),
            str(count),
            str(ids),
            *flags,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_line(proc: subprocess.Popen[str], word: str, timeout: float = 120) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(word):
            return
        if not line and proc.poll() is not None:
            raise AssertionError(
                f"agent exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
    raise AssertionError(f"agent never printed {word}")


def test_agent_killed_and_restarted_while_broker_down(
    own_broker: KafkaBroker, topic: str, tmp_path: Path
) -> None:
    spool, ids = tmp_path / "spool", tmp_path / "ids.txt"
    bootstrap = own_broker.bootstrap
    first = spawn(bootstrap, topic, spool, 1000, ids)
    wait_line(first, "FLUSHED")  # delivered while the broker is up
    own_broker.stop()
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = spawn(bootstrap, topic, spool, 800, ids)
    wait_line(second, "FLUSHED")  # broker down: these are in the spool
    second.send_signal(signal.SIGKILL)  # killed while the broker is still down
    second.wait()
    assert list(spool.rglob("seg-*.avro")), "the killed agent left its events in the spool"

    third = spawn(bootstrap, topic, spool, 500, ids, "--wait-online")
    wait_line(third, "FLUSHED")
    own_broker.start()
    wait_line(third, "ONLINE", timeout=180)
    assert third.wait(60) == 0

    emitted = ids.read_text().split()
    assert len(emitted) == 2300
    counts = delivered_ids(bootstrap, topic, len(emitted))
    assert set(counts) == set(emitted), f"missing {len(set(emitted) - set(counts))}"
    assert max(counts.values()) == 1, "an event arrived twice"
    assert not list(spool.rglob("seg-*.avro"))
