"""Whole runs of processors workers: a clean workload raises nothing; a worker killed
with kill -9 mid-run comes back from its changelog, and workers joining and leaving share
the partitions, with no alert missed or repeated."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from handrail.processors.detection import partition_of
from handrail.schemas import decode, event_type
from tests.support import normal_workload
from tests.support.processors_worker import (
    ROOT,
    Worker,
    WorkerTopics,
    agent_recorder,
    caught_up,
    wait_for_file,
)
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(400)


def _topic_types(bootstrap: str, topic: str) -> list[str]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )  # fmt: skip
    kinds = [event_type(decode(m.value)[1]) for m in consumer]
    consumer.close()
    return kinds


def _misplaced_states(bootstrap: str, changelog: str) -> list[tuple[str, int]]:
    """The detector states written to a changelog partition that does not own their key:
    a worker taking that partition over would recover states it does not own and miss
    its own."""
    consumer = KafkaConsumer(
        changelog, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )  # fmt: skip
    partitions = len(consumer.partitions_for_topic(changelog) or ())
    records = [(json.loads(m.key), m.partition) for m in consumer]
    consumer.close()
    assert records, "no detector state written"
    return [(key, p) for key, p in records if partition_of(key, partitions) != p]


def test_a_clean_run_of_10k_events_raises_no_alert(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Half of the run is a backlog the worker finds when it starts: unread events are
    never taken for missing ones (silence, stalled handoffs, sequence gaps). Each key's
    state is written to the changelog partition that owns the key, whichever partitions
    the batch that changed it came from."""
    topics = WorkerTopics(kafka_bootstrap)
    with Receiver() as receiver:
        worker = Worker(topics.env(receiver.url("").rstrip("/"), tmp_path / "s"), tmp_path / "w")
        recorders = {a: agent_recorder(topics, tmp_path, a) for a in normal_workload.AGENTS}
        try:
            normal_workload.run(recorders, 5_000)
            for rec in recorders.values():
                rec.flush()
            worker.start()
            produced = normal_workload.run(recorders, 10_000)
            for rec in recorders.values():
                rec.close(30)
            assert caught_up(topics)  # every event was judged, none skipped
            time.sleep(8)  # ticks: grace periods, deadlines, silence windows all pass
        finally:
            worker.stop()
        assert produced >= 10_000
        assert receiver.requests() == []
        assert _topic_types(kafka_bootstrap, topics.alerts) == []
        changelog = f"{topics.app_id}-detector-state-changelog"
        assert _misplaced_states(kafka_bootstrap, changelog) == []


def test_a_worker_killed_mid_run_misses_no_alert_and_repeats_none(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = WorkerTopics(kafka_bootstrap)
    storms = 6
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "s")
        worker = Worker(env, tmp_path / "w").start()
        with agent_recorder(topics, tmp_path, "payer") as rec, rec.workflow("wf-storms"):
            for op in range(storms):
                for attempt in range(1, 6):
                    rec.retry("api.charge", f"op-{op}", attempt, "HTTP 503")
                rec.flush()
                if op == storms // 2:  # some storms alerted, some state in flight
                    receiver.wait_for("/pd", 2, timeout=60)
                    worker.kill()
                    worker = Worker(env, tmp_path / "w").start()
                time.sleep(0.3)
        try:
            triggers = _wait_triggers(receiver, storms)
            time.sleep(3)
        finally:
            worker.stop()
    keys = [r.json["dedup_key"] for r in receiver.requests("/pd")
            if r.json["event_action"] == "trigger"]  # fmt: skip
    assert triggers == storms
    assert sorted(keys) == sorted(f"retry-storm:payer:op-{op}" for op in range(storms))


def test_state_whose_changelog_write_is_held_keeps_its_offset_uncommitted(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two retries are judged by a worker whose changelog writes stay in its producer's
    buffer (a busy event loop: Faust's flush gives up after 100 ms) while it commits; it
    crashes; three more retries go to the next worker. The first two must be judged
    again there: their offset was not committed ahead of their state, so the storm of
    five pages. (Faust's own acks let the offset go first: the storm was never paged.)"""
    topics = WorkerTopics(kafka_bootstrap)
    marker = tmp_path / "held"
    rules = {"defaults": {"retry": {"max_retries": 3, "window_s": 600,
                                    "agent_max_retries": 1000}}}  # fmt: skip
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "s")
        env["HANDRAIL_PROCESSORS__RULES"] = json.dumps(rules)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        held = Worker(env, tmp_path / "w1", command=[
            sys.executable, "-m", "tests.support.held_changelog_worker", str(marker),
        ]).start()  # fmt: skip
        with agent_recorder(topics, tmp_path, "payer") as rec, rec.workflow("wf-storm"):
            try:
                for attempt in (1, 2):
                    rec.retry("api.charge", "op-0", attempt, "HTTP 503")
                rec.flush()
                assert caught_up(topics), "the first retries were never routed"
                assert wait_for_file(marker, 120), "no changelog write held, or no commit"
            finally:
                held.kill()
            following = Worker(env, tmp_path / "w2").start()
            try:
                for attempt in (3, 4, 5):
                    rec.retry("api.charge", "op-0", attempt, "HTTP 503")
                rec.flush()
                triggers = _wait_triggers(receiver, 1, timeout=90, prefix="retry-storm:")
            finally:
                following.stop()
    assert triggers == 1


def test_workers_joining_and_leaving_miss_no_alert_and_repeat_none(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A second worker joins, then the first one stops: each hand-over of partitions (the
    events topic's ingest group and Faust's group alike) routes and commits what the
    leaving reader fetched, so every storm pages exactly once."""
    topics = WorkerTopics(kafka_bootstrap)
    storms = 6
    with Receiver() as receiver:
        env = topics.env(receiver.url("").rstrip("/"), tmp_path / "s")
        first = Worker(env, tmp_path / "w1").start()
        second = None
        with agent_recorder(topics, tmp_path, "payer") as rec, rec.workflow("wf-storms"):
            for op in range(storms):
                for attempt in range(1, 6):
                    rec.retry("api.charge", f"op-{op}", attempt, "HTTP 503")
                    time.sleep(0.05)
                rec.flush()
                if op == 1:
                    second = Worker(env, tmp_path / "w2").start()
                if op == 3:
                    first.stop()
        assert second is not None
        try:
            triggers = _wait_triggers(receiver, storms, prefix="retry-storm:")
            time.sleep(3)
        finally:
            first.stop()
            second.stop()
    # Only the storms: under load a router's own alert_delivered event can reach Kafka
    # late (its recorder spooled it), and the sequence-gap detector rightly says so.
    keys = [r.json["dedup_key"] for r in receiver.requests("/pd")
            if r.json["event_action"] == "trigger"
            and r.json["dedup_key"].startswith("retry-storm:")]  # fmt: skip
    assert sorted(keys) == sorted(f"retry-storm:payer:op-{op}" for op in range(storms))
    assert triggers == storms


def _wait_triggers(receiver: Receiver, count: int, timeout: float = 120, prefix: str = "") -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = sum(r.json["event_action"] == "trigger" and r.json["dedup_key"].startswith(prefix)
                for r in receiver.requests("/pd"))  # fmt: skip
        if n >= count:
            return n
        time.sleep(0.5)
    return -1
