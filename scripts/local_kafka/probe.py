"""Is the broker ready? A Kafka Metadata request of our own, and kafka-python's view.

The stdlib probe (``metadata_ready``) speaks plaintext Kafka only: the broker must list
itself and every partition must have a leader. When kafka-python is importable,
``kafka_python_ready`` also confirms that its client can fetch the topic list; it is the
only probe of a SASL_SSL broker.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
import struct
import threading
from collections.abc import Mapping
from typing import Any


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


def metadata_ready(port: int, timeout: float = 3.0) -> tuple[bool, str]:
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


def kafka_python_ready(
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
