"""The command line: ``python scripts/kafka_broker.py start|status|stop``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from local_kafka.broker import KafkaBroker
from local_kafka.config import read_ports
from local_kafka.errors import BrokerError
from local_kafka.probe import metadata_ready
from local_kafka.processes import port_is_bindable

REPO_ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = "Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
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
    return parser


def _start(data_dir: Path, port: int, controller_port: int, timeout: float | None) -> int:
    previous = read_ports(data_dir)
    if not controller_port and previous and previous[1] != port:
        controller_port = previous[1] if port_is_bindable(previous[1]) else 0
    broker = KafkaBroker(data_dir, port, controller_port)
    if broker.is_running:
        print(f"Kafka already running (pid {broker.pid}); see {broker.properties_file}")
        return 0
    began = time.monotonic()
    try:
        broker.start(timeout=timeout or 120.0, detach=True)
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir: Path = args.dir.resolve()
    if args.command == "start":
        return _start(data_dir, args.port, args.controller_port, args.timeout)

    ports = read_ports(data_dir) or (args.port, 0)
    broker = KafkaBroker(data_dir, ports[0], ports[1])
    pid = broker.pid
    if pid is None:
        print(f"Kafka is not running (dir {data_dir})")
        return 0 if args.command == "stop" else 3
    if args.command == "stop":
        broker.stop(timeout=args.timeout or 30.0)
        print(f"Kafka stopped (pid {pid})")
        return 0

    # status
    ready, why = metadata_ready(broker.port)
    state = "ready" if ready else f"not ready: {why}"
    print(f"Kafka running: pid {pid}, bootstrap {broker.bootstrap}, {state}")
    return 0 if ready else 1
