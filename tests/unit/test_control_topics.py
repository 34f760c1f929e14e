"""Where control events go on Kafka: an agent's halts and resumes share the halts topic
and one partition of it, whichever client sends them (the processors' aiokafka, the
CLI's kafka-python), so its offsets order them; approvals and answers stay on the control
topic, keyed by workflow."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner as AiokafkaPartitioner
from kafka.partitioner.default import murmur2

from handrail.control.topics import destination, halts_topic
from tests.support.samples import event_record
from tests.support.signers import halt_fields, resume_fields


def kafka_python_partition(key: bytes, partitions: int) -> int:
    """What kafka-python's default partitioner picks (``DefaultPartitioner.partition``)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_an_agents_halts_and_resumes_share_a_topic_and_a_partition() -> None:
    for agent in ("payer", "writer", "a", "агент", "x" * 200):
        halt = event_record("halt", agent="handrail-processors", **halt_fields(agent, "op"))
        lift = event_record("resume", agent="handrail-cli", **resume_fields(agent, None, "h"))
        halt["workflow_id"], lift["workflow_id"] = "wf-1", "wf-2"
        key = agent.encode()
        assert {destination(r, "c") for r in (halt, lift)} == {(halts_topic("c"), key)}
        for n in (1, 3, 6, 7):
            partitions = list(range(n))
            by_faust = AiokafkaPartitioner.__call__(key, partitions, partitions)
            assert by_faust == kafka_python_partition(key, n)


def test_approvals_and_answers_stay_on_the_control_topic_by_workflow() -> None:
    for kind in ("approval_requested", "approval_granted", "handoff_accepted"):
        record = event_record(kind)
        record["workflow_id"] = "wf-9"
        assert destination(record, "c") == ("c", b"wf-9")
