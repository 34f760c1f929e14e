"""Faust never commits the keyed topic's offsets: only the detect stage does, over the
messages it judged (``processors/changelog_acks.py``). Faust's stream acks a message it
skips (fetched before a rebalance, reaching the stream after it), and its consumer, not
knowing the partition's committed offset from a revocation until the seek that ends
recovery, takes that ack and would commit past every message before it, judged or not.
The real Faust app and consumer, never started (no broker)."""

from __future__ import annotations

from faust.types import TP
from faust.types.tuples import Message

from handrail.processors.app import Processors
from handrail.settings import KafkaSettings, ProcessorSettings, Settings


def test_faust_takes_no_ack_of_a_keyed_message_so_commits_none_past_one_not_judged() -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", events_topic="t.events"),
        processors=ProcessorSettings(
            app_id="handrail-unit", alerts_topic="t.alerts", control_topic="t.control",
            dead_letter_topic="t.dlq", partitions=3,
        ),
    )  # fmt: skip
    processors = Processors(settings)
    consumer = processors.app.consumer
    # What Faust's conductor records when it subscribes (transport/conductor.py), without
    # declaring the topics on a broker.
    for topic in processors.keyed.topics:
        if processors.keyed.acks:
            processors.app.topics._acking_topics.add(topic)  # type: ignore[attr-defined]
    tp = TP(processors.keyed.get_topic_name(), 0)
    # Just revoked and assigned again: no committed offset known for the partition; the
    # stream skips and acks a message at offset 7, while 0-6 were never judged.
    skipped = Message(tp.topic, 0, 7, 0.0, 0, {}, None, b"", None, tp=tp, generation_id=1)
    consumer.ack(skipped)
    assert consumer._new_offset(tp) is None  # type: ignore[attr-defined]  # nothing to commit
