"""Shared fixtures. The Kafka broker is real: started from Maven Central's jars by
``scripts/kafka_broker.py``, or taken from ``KAFKA_BOOTSTRAP_SERVERS``. Under ``CI=true``
a broker that cannot start fails every test that needs it; elsewhere those tests skip."""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from tests.support.tls import make_broker_tls

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from kafka_broker import BrokerError, KafkaBroker, SaslSsl  # noqa: E402


def _start(data_dir: Path, sasl_ssl: SaslSsl | None = None) -> KafkaBroker:
    broker = KafkaBroker(data_dir, sasl_ssl=sasl_ssl)
    try:
        broker.start(timeout=180)
    except (BrokerError, OSError) as exc:
        message = f"the Kafka broker could not start: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A shared broker for tests that do not stop it."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = _start(tmp_path_factory.mktemp("kafka-shared"))
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of this test's own, which the test may stop, kill and restart."""
    broker = _start(tmp_path / "kafka")
    yield broker
    if broker.is_running:
        broker.kill()


@pytest.fixture(scope="module")
def sasl_ssl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A broker whose only client listener is SASL_SSL (SCRAM-SHA-512), its CA and
    certificate made for the run; users ``admin`` (the broker's) and ``handrail``."""
    directory = tmp_path_factory.mktemp("kafka-sasl-ssl")
    tls = make_broker_tls(directory / "tls")
    users = {name: secrets.token_hex(16) for name in ("admin", "handrail")}
    broker = _start(directory / "kafka", SaslSsl(tls.keystore, tls.ca_file, users))
    yield broker
    broker.stop()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A fresh topic with 3 partitions, created up front as in production."""
    name = f"handrail.test.{uuid.uuid4().hex[:12]}"
    bootstrap = request.getfixturevalue(
        "own_broker" if "own_broker" in request.fixturenames else "kafka_bootstrap"
    )
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=getattr(bootstrap, "bootstrap", bootstrap))
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    admin.close()
    return name


@pytest.fixture
def chdb_ledger(tmp_path: Path) -> Iterator[Any]:
    """A fresh, migrated embedded ledger (real chdb) for one test."""
    client = connect(f"chdb://{tmp_path / 'ledger'}")
    migrate(client)
    yield client
    client.close()
