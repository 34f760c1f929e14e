"""The whole chain on a broker that requires SASL: SCRAM-SHA-512 over TLS, with a CA and
certificates made by the test, and no plaintext listener for clients. The SDK ships to it,
``handrail sink run`` fills the ledger from it, and a ``handrail processors run`` worker
(Faust and its aiokafka ingest consumer) pages a retry storm from it. A wrong password or an
untrusted certificate stops the worker or the sink at once with a plain error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka_broker import KafkaBroker, metadata_ready

from handrail.producers import Recorder
from handrail.settings import AgentIdentity, KafkaSettings, Settings, SpoolSettings
from tests.e2e.test_ledger_processes import handrail, sink_log, start_sink
from tests.support.processors_worker import Worker, WorkerTopics
from tests.support.receiver import Receiver
from tests.support.tls import make_broker_tls

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(400)]


def client_options(broker: KafkaBroker, **change: str) -> dict[str, str]:
    """The ``kafka.client_options`` of user ``handrail``, as a user writes them."""
    assert broker.sasl_ssl is not None
    options = broker.sasl_ssl.client_config("handrail")
    return {**options, **change}


class SecuredTopics(WorkerTopics):
    """A run's topic names and worker environment on the secured broker. Nothing is made
    up front (``WorkerTopics`` would, over plaintext): the worker declares its topics."""

    def __init__(self, bootstrap: str, options: dict[str, str]) -> None:
        run = uuid.uuid4().hex[:8]
        self.bootstrap, self.options = bootstrap, options
        self.app_id = f"handrail-test-{run}"
        self.events = f"test.{run}.events"
        self.alerts = f"test.{run}.alerts"
        self.control = f"test.{run}.control"
        self.dead = f"test.{run}.dlq"

    def env(self, receiver_url: str, spool: Path) -> dict[str, str]:
        options = json.dumps(self.options)
        return {**super().env(receiver_url, spool), "HANDRAIL_KAFKA__CLIENT_OPTIONS": options}


def ledger_types(environ: dict[str, str]) -> dict[str, int]:
    done = handrail(["sql", "SELECT type, count() AS n FROM events GROUP BY type", "--json"],
                    environ)  # fmt: skip
    return {r["type"]: int(r["n"]) for r in json.loads(done.stdout)} if not done.returncode else {}


def wait_ledger(environ: dict[str, str], want: dict[str, int], sink: Any) -> dict[str, int]:
    deadline = time.monotonic() + 180
    while not all((types := ledger_types(environ)).get(t, 0) >= n for t, n in want.items()):
        said = sink_log(environ).read_text()[-3000:]
        assert sink.poll() is None, f"the sink exited {sink.returncode}: {said}"
        assert time.monotonic() < deadline, f"ledger holds {types}; the sink said: {said}"
        time.sleep(1)
    return types


def test_sdk_sink_and_processors_run_on_a_sasl_ssl_broker(
    sasl_ssl_broker: KafkaBroker, tmp_path: Path
) -> None:
    broker = sasl_ssl_broker
    ready, why = metadata_ready(broker.port)  # a plaintext client gets nothing there
    assert not ready, why
    options = client_options(broker)
    password = options["sasl_plain_password"]
    topics = SecuredTopics(broker.bootstrap, options)
    sink_env = {
        **os.environ,
        "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "HANDRAIL_KAFKA__EVENTS_TOPIC": topics.events,
        "HANDRAIL_KAFKA__CLIENT_OPTIONS": json.dumps(options),
        "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
        "HANDRAIL_LEDGER__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "HANDRAIL_LEDGER__CONSUMER_GROUP": f"sink-{topics.events}",
        "HANDRAIL_SPOOL__DIR": str(tmp_path / "sink-spool"),
    }
    settings = Settings(
        kafka=KafkaSettings(
            bootstrap_servers=broker.bootstrap, events_topic=topics.events,
            client_options=options,
        ),
        spool=SpoolSettings(dir=tmp_path / "spool"),
    )  # fmt: skip
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "worker-spool")
        worker = Worker(env, tmp_path / "worker.log").start()  # declares the topics
        sink = start_sink(sink_env)
        try:
            rec = Recorder(settings, AgentIdentity(name="payer", owner="team-payer"))
            with rec, rec.workflow("wf-secured"):
                for attempt in range(1, 6):
                    rec.retry("api.charge", "op-1", attempt, "HTTP 503")
                assert rec.flush(60)
                stats = rec.stats()
            assert stats.delivered == 5, stats  # acknowledged by the broker, not spooled
            pages = receiver.wait_for("/pd", 1, timeout=120)
            assert pages[0].json["dedup_key"] == "retry-storm:payer:op-1"
            types = wait_ledger(sink_env, {"retry": 5, "alert_raised": 1}, sink)
        finally:
            sink.terminate()
            sink.wait(60)
            worker.stop()
    assert types["retry"] == 5, types
    said = (tmp_path / "worker.log").read_text() + sink_log(sink_env).read_text()
    assert password not in said


@pytest.mark.parametrize("command", ["processors", "sink"])
@pytest.mark.parametrize("case", ["wrong password", "untrusted certificate"])
def test_a_process_that_cannot_log_in_stops_at_once_with_a_plain_error(
    sasl_ssl_broker: KafkaBroker, tmp_path: Path, case: str, command: str
) -> None:
    wrong = "not-" + client_options(sasl_ssl_broker)["sasl_plain_password"]
    if case == "wrong password":
        options = client_options(sasl_ssl_broker, sasl_plain_password=wrong)
        expect = "refused user 'handrail' (SCRAM-SHA-512 over SASL_SSL)"
    else:  # a CA of its own: the broker's certificate is not one it signed
        other = make_broker_tls(tmp_path / "other-ca")
        options = client_options(sasl_ssl_broker, ssl_cafile=str(other.ca_file))
        expect = "its certificate did not verify"
    env = {
        **os.environ,
        **SecuredTopics(sasl_ssl_broker.bootstrap, options).env("http://127.0.0.1:9", tmp_path),
        "HANDRAIL_LEDGER__DSN": f"chdb://{tmp_path / 'ledger'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "handrail", command, "run"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"handrail {command}: Kafka at {sasl_ssl_broker.bootstrap}" in said, said
    assert expect in said, said
    assert "Traceback" not in said, said
    assert wrong not in said
