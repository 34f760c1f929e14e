"""Kafka's default key partitioning, with each workflow key's hash cached.

Events are keyed by workflow id, and an agent sends many events per workflow; the
pure-Python murmur2 of kafka-python costs several microseconds per event. The
assignment is exactly the default one (the Java client's), so other producers of the
same workflow land on the same partition.
"""

from __future__ import annotations

from typing import Any

from kafka.partitioner.default import DefaultPartitioner, murmur2


class WorkflowPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """``DefaultPartitioner`` with a bounded cache of key hashes."""

    def __init__(self, max_keys: int = 65_536) -> None:
        super().__init__()
        self._max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def partition(  # noqa: PLR0917 - kafka-python's Partitioner signature
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        digest = self._hashes.get(serialized_key)
        if digest is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            digest = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        ordered = sorted(partitions)
        return int(ordered[digest % len(ordered)])
