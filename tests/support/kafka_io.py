"""Reading a topic back with a plain kafka-python consumer, and the SDK settings for a topic."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from handrail.settings import KafkaSettings, Settings, SpoolSettings


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Message]:
    """Every message of ``topic`` from the start; waits until ``expect`` arrived (or timeout),
    then keeps reading briefly so that extra (duplicate) messages would be seen too."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
    )
    deadline = time.monotonic() + timeout
    while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    out: list[Message] = []
    settle: float | None = None
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500, max_records=5000)
        for records in batch.values():
            out.extend(Message(r.partition, r.offset, r.key, r.value) for r in records)
        if len(out) >= expect:
            settle = settle or time.monotonic() + 2.0
            if time.monotonic() > settle:
                break
    consumer.close()
    return out


def kafka_settings(bootstrap: str, topic: str, spool: Path, **producer: object) -> Settings:
    """An agent's settings: Kafka at ``bootstrap``, events to ``topic``, the spool in
    ``spool``; ``producer`` sets ``ProducerSettings`` fields."""
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, events_topic=topic),
        spool=SpoolSettings(dir=spool),
        producer=producer,  # type: ignore[arg-type]
    )
