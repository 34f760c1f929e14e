"""The cached partitioner assigns exactly what Kafka's default partitioner assigns."""

from __future__ import annotations

from kafka.partitioner.default import DefaultPartitioner

from handrail.producers.shipping.partitioner import WorkflowPartitioner


class Cluster:
    """The two metadata lookups a partitioner makes, for a topic of ``n`` partitions."""

    def __init__(self, n: int) -> None:
        self.parts = set(range(n))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.parts if topic == "t" else None

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.parts


def test_same_assignment_as_the_default_partitioner() -> None:
    cached, default = WorkflowPartitioner(max_keys=50), DefaultPartitioner()
    for n in (1, 3, 7, 64):
        cluster = Cluster(n)
        for i in range(300):  # more keys than the cache holds: it clears and refills
            key = f"wf-{i}".encode()
            expected = default.partition("t", key, key, None, None, cluster)
            assert cached.partition("t", key, key, None, None, cluster) == expected
            assert cached.partition("t", key, key, None, None, cluster) == expected


def test_unkeyed_messages_use_the_default_behaviour() -> None:
    assert WorkflowPartitioner().partition("t", None, None, None, b"v", Cluster(3)) in {0, 1, 2}
