#!/usr/bin/env python3
"""Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1.

The broker's jars come from Maven Central through ``mvn`` and ``scripts/kafka/pom.xml``; the
resolved classpath is cached (keyed by the pom's hash) so only the first run pays for Maven.

Library use (tests)::

    broker = KafkaBroker(tmp_path / "kafka")      # ports picked for you
    broker.start()                               # formats storage on first start only
    ...  # use broker.bootstrap, e.g. "127.0.0.1:40123"
    broker.stop()                                # SIGTERM, then SIGKILL after the timeout
    broker.start()                               # same data_dir, same ports: data survives
    broker.kill()                                # SIGKILL

A secured broker (``SaslSsl``) has one client listener, SASL_SSL with SCRAM, and no
plaintext one: its users are made when the storage is formatted (``--add-scram``), its key
and certificate chain come from one PEM file (``ssl.keystore.type=PEM``, no keytool)::

    broker = KafkaBroker(tmp_path / "kafka", sasl_ssl=SaslSsl(keystore, ca_file, users))
    broker.client_config  # what a kafka-python client needs to join it

Command line (local development)::

    python scripts/kafka_broker.py start  [--dir .kafka] [--port 9092]
    python scripts/kafka_broker.py status [--dir .kafka]
    python scripts/kafka_broker.py stop   [--dir .kafka]

Stdlib only. The readiness check speaks the Kafka protocol itself (a Metadata request: the
broker must list itself and every partition must have a leader) and, when kafka-python is
importable, also confirms that a kafka-python client can fetch the topic list.

This file is the entry point; the code lives in the ``local_kafka`` package next to it, one
concern a module (Maven, configuration, SASL_SSL, processes, readiness probe, lifecycle, CLI).
"""

from __future__ import annotations

import sys

from local_kafka.broker import KafkaBroker
from local_kafka.classpath import POM_PATH, default_cache_dir, resolve_classpath
from local_kafka.cli import main
from local_kafka.errors import BrokerError
from local_kafka.probe import metadata_ready
from local_kafka.processes import free_port
from local_kafka.sasl_ssl import SaslSsl

__all__ = [
    "POM_PATH",
    "BrokerError",
    "KafkaBroker",
    "SaslSsl",
    "default_cache_dir",
    "free_port",
    "main",
    "metadata_ready",
    "resolve_classpath",
]

if __name__ == "__main__":
    sys.exit(main())
