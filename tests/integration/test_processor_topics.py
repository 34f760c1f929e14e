"""A worker declares its topics before Faust joins the group: every one exists, with a
leader per partition, when ``declare`` returns; a second worker creates nothing."""

from __future__ import annotations

import uuid

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from handrail.processors.app import Processors
from handrail.processors.topics import declare
from handrail.settings import KafkaSettings, ProcessorSettings, Settings


def test_declare_creates_every_topic_ready_to_use(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, events_topic=f"t.{run}.events"),
        processors=ProcessorSettings(
            app_id=f"handrail-topics-{run}", alerts_topic=f"t.{run}.alerts",
            control_topic=f"t.{run}.control", dead_letter_topic=f"t.{run}.dlq", partitions=4,
        ),
    )  # fmt: skip
    specs = Processors(settings).topic_specs()
    names = {s.name for s in specs}
    topics = ("events", "alerts", "control", "control.halts", "dlq")
    assert names == {f"t.{run}.{t}" for t in topics} | {
        f"handrail-topics-{run}-{t}"
        for t in ("keyed", "detector-state-changelog", "alert-state-changelog")
    }

    assert set(declare(specs, settings.kafka.servers, {})) == names
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        for topic in admin.describe_topics(sorted(names)):  # at once, no retry: ready
            assert topic["error_code"] == 0, topic["name"]
            assert len(topic["partitions"]) == 4, topic["name"]
            assert all(p["leader_id"] >= 0 for p in topic["partitions"]), topic["name"]
        changelog = f"handrail-topics-{run}-detector-state-changelog"
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, changelog, ["cleanup.policy"])]
        )
        assert configs["topic"][changelog]["cleanup.policy"]["value"] == "compact"
        halts = f"t.{run}.control.halts"  # a halt stays until a person lifts it: kept forever
        wanted = ["cleanup.policy", "retention.ms", "retention.bytes"]
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, halts, wanted)])
        kept = {name: configs["topic"][halts][name]["value"] for name in wanted}
        assert kept == {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    finally:
        admin.close()
    assert declare(specs, settings.kafka.servers, {}) == []  # the next worker: nothing new
