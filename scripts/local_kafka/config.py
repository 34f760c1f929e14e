"""The broker's configuration: the files in its data dir, ``server.properties`` and log4j2.

Rendering is pure; ``read_ports`` reads back the ports a data dir's broker was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from local_kafka.sasl_ssl import SaslSsl

NODE_ID = 1
# Below the broker's data dir.
PID_FILE = "kafka.pid"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
LOG_DIR = "logs"
SERVER_LOG = "server.log"  # in LOG_DIR
CONSOLE_LOG = "console.log"  # in LOG_DIR
DATA_DIR = "data"

_LOG4J2_TEMPLATE = """\
# Written by scripts/kafka_broker.py: broker logs go to a file, never to our stdout.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {server_log}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.kafka.additivity = false
logger.kafka.appenderRef.file.ref = FILE
logger.kafkaorg.name = org.apache.kafka
logger.kafkaorg.level = INFO
logger.kafkaorg.additivity = false
logger.kafkaorg.appenderRef.file.ref = FILE
"""


def server_properties(
    *,
    port: int,
    controller_port: int,
    log_dirs: Path,
    sasl_ssl: SaslSsl | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A single-node KRaft broker+controller on 127.0.0.1; ``extra`` overrides any key."""
    listener = "SASL_SSL" if sasl_ssl else "PLAINTEXT"
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"{listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"{listener}://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dirs),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a SIGKILL the restarted broker cannot re-register until the controller has
        # fenced its previous incarnation (DUPLICATE_BROKER_REGISTRATION); the default 9 s
        # session made restart-after-kill take ~14 s. Heartbeats stay frequent so a busy
        # CI machine does not fence the only broker by accident.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "4000",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    if sasl_ssl:
        props.update(sasl_ssl.server_properties())
    props.update(extra or {})
    return props


def render_properties(props: Mapping[str, str]) -> str:
    """``server.properties`` text, one ``key=value`` a line."""
    lines = ["# Written by scripts/kafka_broker.py on every start."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def render_log4j(server_log: Path) -> str:
    """log4j2 properties sending every broker log line to ``server_log``."""
    return _LOG4J2_TEMPLATE.format(server_log=server_log.as_posix())


def read_ports(data_dir: Path) -> tuple[int, int] | None:
    """(port, controller_port) from a data dir's server.properties, if it has one."""
    try:
        text = (data_dir / PROPERTIES_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    port = controller = 0
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "listeners":
            for listener in value.split(","):
                name, _, address = listener.strip().partition("://")
                number = int(address.rsplit(":", 1)[-1])
                if name == "PLAINTEXT":
                    port = number
                elif name == "CONTROLLER":
                    controller = number
    return (port, controller) if port and controller else None
