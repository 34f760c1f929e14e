"""The Kafka producer the shipper uses: idempotent, ``acks=all``, quick to notice outages."""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from handrail.producers.partitioner import WorkflowPartitioner
from handrail.settings import KafkaSettings, ProducerSettings


def kafka_producer_factory(kafka: KafkaSettings, producer: ProducerSettings) -> Any:
    """A callable that builds a connected ``KafkaProducer`` (raises if Kafka is unreachable)."""
    request_timeout_ms = int(max(producer.send_timeout_s * 2, 10) * 1000)
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_block_ms": 1000,  # a send never holds the shipper long; it spools instead
        "bootstrap_timeout_ms": 2000,
        "request_timeout_ms": request_timeout_ms,
        "delivery_timeout_ms": request_timeout_ms * 3,
        "reconnect_backoff_max_ms": 1000,
        "client_id": "handrail-sdk",
        "partitioner": WorkflowPartitioner(),
        **kafka.client_config,
    }

    def build() -> KafkaProducer:
        return KafkaProducer(**options)

    return build
