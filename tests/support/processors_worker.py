"""A real processors worker (``handrail processors run``) in a subprocess, with fast
thresholds, alerting a local HTTP receiver that speaks PagerDuty and Slack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from handrail.producers import Recorder
from handrail.settings import (
    AgentIdentity,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    SpoolSettings,
)

ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository: on a worker's ``PYTHONPATH`` when it runs a module of ``tests``."""

FAST_RULES: dict[str, Any] = {
    "defaults": {
        "retry": {"max_retries": 3, "window_s": 4, "agent_max_retries": 1000},
        "spend": {"bucket_s": 1, "short_window_s": 3, "long_window_s": 6,
                  "warmup_buckets": 6, "cap_clear_s": 3},
        "handoff": {"min_answers": 5, "deadline_s": 3},
        "rights": {"grace_s": 1},
        "silence": {"heartbeat_interval_s": 1, "missed_heartbeats": 3, "gap_grace_s": 2},
    }
}  # fmt: skip


class WorkerTopics:
    """Fresh topics and a fresh app id, so runs never see each other's state."""

    def __init__(self, bootstrap: str, partitions: int = 3) -> None:
        run = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.app_id = f"handrail-test-{run}"
        self.events = f"test.{run}.events"
        self.alerts = f"test.{run}.alerts"
        self.control = f"test.{run}.control"
        self.dead = f"test.{run}.dlq"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([
            NewTopic(t, num_partitions=partitions, replication_factor=1)
            for t in (self.events, self.alerts, self.control, self.dead)
        ])  # fmt: skip
        admin.close()

    def env(self, receiver_url: str, spool: Path) -> dict[str, str]:
        channels = {
            "pd": {"type": "pagerduty", "routing_key": "R-test", "url": f"{receiver_url}/pd"},
            "slack": {"type": "slack", "webhook_url": f"{receiver_url}/slack"},
        }
        return {
            "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "HANDRAIL_KAFKA__EVENTS_TOPIC": self.events,
            "HANDRAIL_SPOOL__DIR": str(spool),
            "HANDRAIL_PROCESSORS__APP_ID": self.app_id,
            "HANDRAIL_PROCESSORS__ALERTS_TOPIC": self.alerts,
            "HANDRAIL_PROCESSORS__CONTROL_TOPIC": self.control,
            "HANDRAIL_PROCESSORS__DEAD_LETTER_TOPIC": self.dead,
            "HANDRAIL_PROCESSORS__TICK_INTERVAL_S": "0.5",
            "HANDRAIL_PROCESSORS__SESSION_TIMEOUT_S": "6",
            "HANDRAIL_PROCESSORS__RULES": json.dumps(FAST_RULES),
            "HANDRAIL_ALERTS__CHANNELS": json.dumps(channels),
            "HANDRAIL_ALERTS__DEFAULT": json.dumps(["pd", "slack"]),
            "HANDRAIL_ALERTS__RETRY": json.dumps({"initial_backoff_s": 0.1, "max_attempts": 3}),
        }


class Worker:
    """One worker process; ``start`` waits until Faust says it is ready."""

    def __init__(self, env: dict[str, str], log: Path, command: list[str] | None = None) -> None:
        self._env = {**os.environ, **env}
        self._log = log
        self._command = command or [sys.executable, "-m", "handrail", "processors", "run"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> Worker:
        out = self._log.open("ab")
        self.process = subprocess.Popen(
            self._command, env=self._env, stdout=out, stderr=subprocess.STDOUT,
            cwd=self._log.parent,
        )  # fmt: skip
        start = self._log.stat().st_size if self._log.exists() else 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self._log.read_text()[-3000:]}")
            output = self._log.read_bytes()[start:]
            if b"Ready" in output:
                # Faust's group leader skipped a topic it could not see yet: nothing it
                # reads would be assigned for minutes (processors/topics.py prevents it).
                assert b"Ignoring missing topic" not in output, output.decode()[-3000:]
                return self
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready: {self._log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for_file(path: Path, timeout: float) -> bool:
    """Wait until ``path`` exists and is not empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return True
        time.sleep(0.1)
    return False


def caught_up(topics: WorkerTopics, timeout: float = 120.0) -> bool:
    """Wait until the workers' ingest group committed every message of the events topic."""
    from kafka import KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=topics.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=topics.bootstrap)
    partitions = [TopicPartition(topics.events, p) for p in range(3)]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ends = consumer.end_offsets(partitions)
            group = ProcessorSettings(app_id=topics.app_id).ingest_group
            committed = admin.list_group_offsets(group).get(group, {})
            if all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp])
                   for tp in partitions):  # fmt: skip
                return True
            time.sleep(1)
        return False
    finally:
        consumer.close()
        admin.close()


def agent_recorder(topics: WorkerTopics, tmp: Path, agent: str) -> Recorder:
    """An SDK recorder for ``agent`` (owner ``team-<agent>``) on the run's events topic."""
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=topics.bootstrap, events_topic=topics.events),
        spool=SpoolSettings(dir=tmp / f"spool-{agent}"),
    )
    return Recorder(settings, AgentIdentity(name=agent, owner=f"team-{agent}"))
