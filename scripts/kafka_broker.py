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
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import hashlib
import importlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "POM_PATH",
    "BrokerError",
    "KafkaBroker",
    "SaslSsl",
    "default_cache_dir",
    "free_port",
    "resolve_classpath",
]

SCRIPTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS_DIR.parent
POM_PATH = SCRIPTS_DIR / "kafka" / "pom.xml"

NODE_ID = 1
PID_FILE = "kafka.pid"
PROPERTIES_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
LOG_DIR = "logs"
SERVER_LOG = "server.log"
CONSOLE_LOG = "console.log"
DATA_DIR = "data"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

_LOG_TAIL_LINES = 60
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BrokerError(RuntimeError):
    """The broker (or resolving its classpath) failed; the message carries the evidence."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def default_cache_dir() -> Path:
    """Where the resolved classpath is cached: ``$XDG_CACHE_HOME/handrail/kafka``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "handrail" / "kafka"


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise BrokerError("no Java runtime: set JAVA_HOME or put `java` (17+) on PATH")
    return found


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


def _port_is_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Java's server sockets use SO_REUSEADDR too, so TIME_WAIT leftovers don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _pid_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


# --------------------------------------------------------------------------- classpath


def _mvn_executable() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise BrokerError("`mvn` is not on PATH: install Maven to resolve the Kafka jars")
    return found


def resolve_classpath(cache_dir: Path | None = None, *, pom: Path = POM_PATH) -> str:
    """Return the broker's Java classpath, resolving it with ``mvn`` on first use.

    The result is cached in ``cache_dir`` under a name keyed by the pom's SHA-256, so editing
    the pom re-resolves; a cached classpath whose jars have vanished is resolved again too.
    """
    cache = (cache_dir or default_cache_dir()).resolve()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    cached = cache / f"classpath-{digest}.txt"
    if cached.is_file():
        classpath = cached.read_text(encoding="utf-8").strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"classpath-{digest}.{os.getpid()}.tmp"
    cmd = [
        _mvn_executable(),
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={partial}",
    ]
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"`{' '.join(cmd)}` timed out after {exc.timeout}s") from exc
    classpath = partial.read_text(encoding="utf-8").strip() if partial.is_file() else ""
    if done.returncode != 0 or not classpath:
        partial.unlink(missing_ok=True)
        output = _ANSI_ESCAPE.sub("", done.stdout + done.stderr).strip()
        raise BrokerError(
            f"resolving the Kafka classpath failed (`{' '.join(cmd)}` exited "
            f"{done.returncode}):\n{output[-8000:]}"
        )
    os.replace(partial, cached)
    return classpath


# --------------------------------------------------------------------------- Kafka protocol probe


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self._data, self._pos)[0]
        self._pos += struct.calcsize(fmt)
        return value

    def int8(self) -> int:
        return int(self._take(">b"))

    def int16(self) -> int:
        return int(self._take(">h"))

    def int32(self) -> int:
        return int(self._take(">i"))

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self._data[self._pos : self._pos + length]
        self._pos += length
        return raw.decode()

    def int32_array(self) -> list[int]:
        return [self.int32() for _ in range(max(self.int32(), 0))]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _metadata_ready(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Send a Metadata v4 request (all topics); ready when this broker is listed and every
    partition of every topic has a leader. Returns (ready, why-not)."""
    client_id = b"handrail-broker-probe"
    correlation_id = 7
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">ib", -1, 0)  # topics=null (all), allow_auto_topic_creation=false
    request = header + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            response = _recv_exact(sock, size)
    except (OSError, ConnectionError) as exc:
        return False, f"metadata request failed: {exc}"
    try:
        return _parse_metadata_v4(_Reader(response), correlation_id, port)
    except struct.error as exc:
        return False, f"malformed metadata response: {exc}"


def _parse_metadata_v4(reader: _Reader, correlation_id: int, port: int) -> tuple[bool, str]:
    if reader.int32() != correlation_id:
        return False, "unexpected correlation id"
    reader.int32()  # throttle_time_ms
    broker_ports = []
    for _ in range(reader.int32()):
        reader.int32()  # node_id
        reader.string()  # host
        broker_ports.append(reader.int32())
        reader.string()  # rack
    reader.string()  # cluster_id
    reader.int32()  # controller_id
    if port not in broker_ports:
        return False, "broker not registered in metadata yet"
    for _ in range(reader.int32()):
        topic_error = reader.int16()
        name = reader.string()
        reader.int8()  # is_internal
        if topic_error != 0:
            return False, f"topic {name}: error {topic_error}"
        for _ in range(reader.int32()):
            partition_error = reader.int16()
            partition = reader.int32()
            leader = reader.int32()
            reader.int32_array()  # replicas
            reader.int32_array()  # isr (v4 has no offline_replicas; that came in v5)
            if leader < 0 or partition_error not in (0, 9):  # 9 = REPLICA_NOT_AVAILABLE
                return False, f"{name}-{partition}: no leader yet"
    return True, ""


def _kafka_python_ready(
    bootstrap: str, timeout: float, client_config: Mapping[str, Any] | None = None
) -> tuple[bool, str]:
    """If kafka-python is importable, check that its client can list topics. A secured
    broker (``client_config`` given) needs it: the stdlib probe speaks no TLS or SASL."""
    if importlib.util.find_spec("kafka") is None:
        if client_config:
            return False, "kafka-python is needed to probe a SASL_SSL broker"
        return True, ""
    outcome: list[str] = []

    def probe() -> None:
        try:
            kafka: Any = importlib.import_module("kafka")
            consumer = kafka.KafkaConsumer(
                bootstrap_servers=bootstrap,
                client_id="handrail-broker-probe",
                **(client_config or {}),
            )
            try:
                consumer.topics()
            finally:
                consumer.close()
            outcome.append("")
        except Exception as exc:  # any client failure just means "not ready yet"
            outcome.append(f"kafka-python: {exc!r}")

    thread = threading.Thread(target=probe, name="kafka-broker-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return False, "kafka-python probe timed out"
    return outcome[0] == "", outcome[0]


# --------------------------------------------------------------------------- the broker


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


@dataclass(frozen=True)
class SaslSsl:
    """The secured variant: clients reach the broker only over SASL_SSL with SCRAM.

    ``keystore`` is a PEM file holding the broker's unencrypted PKCS#8 private key and its
    certificate chain; ``ca_file`` the CA that signed it (the broker trusts it too, for its
    own inter-broker connection). ``users`` are the SCRAM users, name to password; the
    first one is the broker's own."""

    keystore: Path
    ca_file: Path
    users: Mapping[str, str] = field(repr=False)
    mechanism: str = "SCRAM-SHA-512"

    def __post_init__(self) -> None:
        if self.mechanism not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise BrokerError(f"SCRAM-SHA-256 or SCRAM-SHA-512, not {self.mechanism!r}")
        if not self.users:
            raise BrokerError("a SASL_SSL broker needs at least one SCRAM user")
        for name, password in self.users.items():
            # Both go into a JAAS line and the storage tool's [name=...,password=...].
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name + password):
                raise BrokerError(f"SCRAM user {name!r}: letters, digits, '_', '.', '-' only")

    def client_config(self, user: str | None = None) -> dict[str, Any]:
        """kafka-python options for ``user`` (default: the broker's own)."""
        name = user or next(iter(self.users))
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": name,
            "sasl_plain_password": self.users[name],
            "ssl_cafile": str(self.ca_file),
        }

    def server_properties(self) -> dict[str, str]:
        admin, password = next(iter(self.users.items()))
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{admin}" password="{password}";'
        )
        return {
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"listener.name.sasl_ssl.{self.mechanism.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.client.auth": "none",
        }

    def format_arguments(self) -> list[str]:
        """The storage tool's ``--add-scram`` arguments: KRaft keeps SCRAM users in its
        metadata log, so they exist before the broker serves its first request."""
        out: list[str] = []
        for name, password in self.users.items():
            out += ["--add-scram", f"{self.mechanism}=[name={name},password={password}]"]
        return out


class KafkaBroker:
    """One single-node KRaft Kafka (combined broker+controller) living in ``data_dir``.

    ``port`` / ``controller_port`` of ``0`` pick free ports once, at construction, so every
    restart of this object reuses the same ones (clients keep their bootstrap address).
    The controller quorum is static (``controller.quorum.voters``), so a data dir may also be
    restarted by a new object with different ports.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        controller_port: int = 0,
        *,
        cache_dir: Path | None = None,
        heap: str = "512m",
        extra_properties: Mapping[str, str] | None = None,
        jvm_options: Sequence[str] = (),
        sasl_ssl: SaslSsl | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.cache_dir = cache_dir
        self.heap = heap
        self.extra_properties = dict(extra_properties or {})
        # e.g. ("-XX:TieredStopAtLevel=1",): ~35% faster JVM start, slower steady state.
        self.jvm_options = tuple(jvm_options)
        self.sasl_ssl = sasl_ssl
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._atexit_registered = False

    # ----------------------------------------------------------------- paths & properties

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_config(self) -> dict[str, Any]:
        """The kafka-python options a client needs (none for a plaintext broker)."""
        return self.sasl_ssl.client_config() if self.sasl_ssl else {}

    @property
    def log_dir(self) -> Path:
        return self.data_dir / LOG_DIR

    @property
    def server_log(self) -> Path:
        return self.log_dir / SERVER_LOG

    @property
    def console_log(self) -> Path:
        return self.log_dir / CONSOLE_LOG

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def properties_file(self) -> Path:
        return self.data_dir / PROPERTIES_FILE

    @property
    def kafka_data_dir(self) -> Path:
        return self.data_dir / DATA_DIR

    @property
    def is_formatted(self) -> bool:
        return (self.kafka_data_dir / "meta.properties").is_file()

    def server_properties(self) -> dict[str, str]:
        listener = "SASL_SSL" if self.sasl_ssl else "PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"{listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"{listener}://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.kafka_data_dir),
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
        if self.sasl_ssl:
            props.update(self.sasl_ssl.server_properties())
        props.update(self.extra_properties)
        return props

    def _write_config(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by scripts/kafka_broker.py on every start."]
        lines += [f"{key}={value}" for key, value in self.server_properties().items()]
        self.properties_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (self.data_dir / LOG4J_FILE).write_text(
            _LOG4J2_TEMPLATE.format(server_log=self.server_log.as_posix()), encoding="utf-8"
        )

    def _java_command(self, classpath: str, main_class: str, *args: str) -> list[str]:
        return [
            _java_executable(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / LOG4J_FILE}",
            f"-Dkafka.logs.dir={self.log_dir}",
            *self.jvm_options,
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    # ----------------------------------------------------------------- process state

    def _adopt_pid_file(self) -> int | None:
        """A live broker of this data dir recorded in the pid file (e.g. started by the CLI)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        cmdline = _pid_cmdline(pid)
        if _pid_alive(pid) and MAIN_CLASS in cmdline and str(self.properties_file) in cmdline:
            return pid
        return None

    def _current_pid(self) -> int | None:
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc.pid
            self._proc = None
            self._pid = None
        if self._pid is not None and _pid_alive(self._pid):
            return self._pid
        self._pid = self._adopt_pid_file()
        return self._pid

    @property
    def pid(self) -> int | None:
        return self._current_pid()

    @property
    def is_running(self) -> bool:
        return self._current_pid() is not None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return (
            f"--- {self.server_log} (tail) ---\n{_tail(self.server_log, lines)}\n"
            f"--- {self.console_log} (tail) ---\n{_tail(self.console_log, lines)}"
        )

    # ----------------------------------------------------------------- lifecycle

    def format_storage(self, classpath: str) -> None:
        """Format KRaft storage with a fresh cluster id (static quorum: no --standalone)."""
        cluster_id = ""
        while not cluster_id or cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java_command(
            classpath,
            STORAGE_TOOL,
            "format",
            "--config",
            str(self.properties_file),
            "--cluster-id",
            cluster_id,
            "--ignore-formatted",
            *(self.sasl_ssl.format_arguments() if self.sasl_ssl else ()),
        )
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0 or not self.is_formatted:
            raise BrokerError(
                f"formatting KRaft storage in {self.kafka_data_dir} failed "
                f"(exit {done.returncode}):\n{(done.stdout + done.stderr).strip()[-6000:]}"
            )

    def start(self, timeout: float = 60.0, *, detach: bool = False) -> None:
        """Start the broker and wait until it serves Kafka requests.

        Formats storage only on the first start of ``data_dir``; later starts keep all topics
        and messages. With ``detach=False`` (the default) the broker is killed when this
        Python process exits, if it is still running then; ``detach=True`` leaves it running.
        """
        if self.is_running:
            raise BrokerError(f"a broker for {self.data_dir} is already running (pid {self.pid})")
        for port in (self.port, self.controller_port):
            if not _port_is_bindable(port):
                raise BrokerError(f"port {port} on 127.0.0.1 is already in use")
        started = time.monotonic()
        classpath = resolve_classpath(self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not self.is_formatted:
            self.format_storage(classpath)
        cmd = self._java_command(classpath, MAIN_CLASS, str(self.properties_file))
        with self.console_log.open("ab") as console:
            console.write(f"\n=== start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            console.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # own process group: our signals never reach it
            )
        self._pid = self._proc.pid
        self.pid_file.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        if not detach and not self._atexit_registered:
            atexit.register(self._kill_at_exit)
            self._atexit_registered = True
        try:
            self._wait_ready(started + timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, deadline: float) -> None:
        why = "not started"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise BrokerError(
                    f"Kafka broker exited during startup (exit {code})\n" + self.log_tail()
                )
            # The stdlib probe speaks plaintext only; a secured broker is probed by kafka-python.
            ready, why = (True, "") if self.sasl_ssl else _metadata_ready(self.port)
            if ready:
                remaining = max(deadline - time.monotonic(), 1.0)
                ready, why = _kafka_python_ready(
                    self.bootstrap, min(remaining, 15.0), self.client_config
                )
                if ready:
                    return
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"Kafka broker on {self.bootstrap} not ready in time ({why})\n"
                    + self.log_tail()
                )
            time.sleep(0.2)

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _forget(self) -> None:
        self._proc = None
        self._pid = None
        with contextlib.suppress(OSError):
            pid_text = self.pid_file.read_text().strip()
            if not pid_text or not _pid_alive(int(pid_text)):
                self.pid_file.unlink()

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: SIGTERM, wait up to ``timeout``, then SIGKILL."""
        pid = self._current_pid()
        if pid is None:
            self._forget()
            return
        self._signal(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._forget()

    def kill(self) -> None:
        """Crash the broker: SIGKILL, no clean shutdown."""
        pid = self._current_pid()
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._forget()

    def _kill_at_exit(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaBroker({str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"


# --------------------------------------------------------------------------- CLI


def _read_ports(data_dir: Path) -> tuple[int, int] | None:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=REPO_ROOT / ".kafka",
        help="broker data/config/log directory (default: .kafka/ in the repo root)",
    )
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    parser.add_argument(
        "--controller-port",
        type=int,
        default=0,
        help="KRaft controller port (default: reuse the previous one, else a free port)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="start/stop timeout (s)")
    args = parser.parse_args(argv)
    data_dir: Path = args.dir.resolve()

    if args.command == "start":
        previous = _read_ports(data_dir)
        controller_port = args.controller_port
        if not controller_port and previous and previous[1] != args.port:
            controller_port = previous[1] if _port_is_bindable(previous[1]) else 0
        broker = KafkaBroker(data_dir, args.port, controller_port)
        if broker.is_running:
            print(f"Kafka already running (pid {broker.pid}); see {broker.properties_file}")
            return 0
        began = time.monotonic()
        try:
            broker.start(timeout=args.timeout or 120.0, detach=True)
        except BrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"Kafka started in {time.monotonic() - began:.1f}s (pid {broker.pid}, "
            f"logs {broker.log_dir})",
            file=sys.stderr,
        )
        print(broker.bootstrap)
        return 0

    ports = _read_ports(data_dir) or (args.port, 0)
    broker = KafkaBroker(data_dir, ports[0], ports[1])
    if args.command == "stop":
        pid = broker.pid
        if pid is None:
            print(f"Kafka is not running (dir {data_dir})")
            return 0
        broker.stop(timeout=args.timeout or 30.0)
        print(f"Kafka stopped (pid {pid})")
        return 0

    # status
    pid = broker.pid
    if pid is None:
        print(f"Kafka is not running (dir {data_dir})")
        return 3
    ready, why = _metadata_ready(broker.port)
    state = "ready" if ready else f"not ready: {why}"
    print(f"Kafka running: pid {pid}, bootstrap {broker.bootstrap}, {state}")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
