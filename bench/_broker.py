"""A broker for benchmarks: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a fresh local one."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from kafka_broker import KafkaBroker


@contextmanager
def bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="handrail-bench-kafka-") as tmp:
        broker = KafkaBroker(Path(tmp))
        broker.start(timeout=180)
        try:
            yield broker.bootstrap
        finally:
            broker.stop()
