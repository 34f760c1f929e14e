"""The Kafka producer the shipper uses: idempotent, ``acks=all``, quick to notice outages.

kafka-python loads on the shipper's first connection, not when the SDK is imported (an
agent on the embedded default never loads it).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from handrail.settings import KafkaSettings, ProducerSettings

if TYPE_CHECKING:
    from kafka import KafkaProducer


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
        **kafka.client_config,
    }

    def build() -> KafkaProducer:
        from kafka import KafkaProducer  # noqa: PLC0415 - see the module's docstring

        from handrail.producers.shipping.partitioner import WorkflowPartitioner  # noqa: PLC0415

        return KafkaProducer(**{"partitioner": WorkflowPartitioner(), **options})

    return build


@cache
def permanent_errors() -> tuple[type[Exception], ...]:
    """Kafka refusals that no retry can fix: the event is set aside in the spool's rejected
    file."""
    from kafka import errors  # noqa: PLC0415 - see the module's docstring

    return (
        errors.CorruptRecordError,
        errors.InvalidRecordError,
        errors.InvalidTopicError,
        errors.MessageSizeTooLargeError,
        errors.RecordListTooLargeError,
        errors.UnsupportedForMessageFormatError,
    )
