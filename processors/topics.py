"""The worker's topics exist, and the broker's metadata lists them, before Faust joins its
consumer group.

Faust creates its internal topics (the keyed topic, the tables' changelogs) just before
its consumer subscribes, and does not wait for the new topics to reach the broker's
metadata. On KRaft that can lag: the group leader then assigns no partition of a topic it
cannot see yet ("Ignoring missing topic"), and only notices it at the consumer's next
metadata refresh, minutes later; until then nothing is detected. So the worker declares
every topic it reads or writes itself, first, and waits until each has a leader for every
partition. Existing topics are left as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from faust.types import TopicT
from mode.utils.times import want_seconds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


def spec_of(topic: TopicT, partitions: int, replication_factor: int) -> TopicSpec:
    """What Faust would create for ``topic`` (its partitions and replicas default to the
    app's)."""
    configs = {str(k): str(v) for k, v in (topic.config or {}).items()}
    policy = [name for name, on in (("compact", topic.compacting), ("delete", topic.deleting))
              if on]  # fmt: skip
    if policy:
        configs["cleanup.policy"] = ",".join(policy)
    if topic.retention:
        configs["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    (name,) = topic.topics
    return TopicSpec(
        name, topic.partitions or partitions, topic.replicas or replication_factor, configs
    )


def declare(
    specs: list[TopicSpec], servers: list[str], client_options: dict[str, Any],
    timeout_s: float = 60.0,
) -> list[str]:  # fmt: skip
    """Create the topics that do not exist yet and wait until every one is in the broker's
    metadata with a leader per partition; return the names created."""
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415 - only a worker needs it

    admin = KafkaAdminClient(bootstrap_servers=servers, **client_options)
    try:
        existing = set(admin.list_topics())
        missing = {
            s.name: {"num_partitions": s.partitions, "replication_factor": s.replication_factor,
                     "configs": s.configs}
            for s in specs if s.name not in existing
        }  # fmt: skip
        if missing:
            result = admin.create_topics(missing, raise_errors=False)
            for topic in result["topics"]:
                if topic["error_code"] not in (0, 36):  # 36: created meanwhile by another worker
                    why = topic.get("error_message") or f"error {topic['error_code']}"
                    raise RuntimeError(f"cannot create topic {topic['name']}: {why}")
            log.info("created topics %s", ", ".join(sorted(missing)))
        admin.wait_for_topics([s.name for s in specs], timeout_ms=int(timeout_s * 1000))
        return sorted(missing)
    finally:
        admin.close()
