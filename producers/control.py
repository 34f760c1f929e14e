"""The control topic, followed by the SDK: halts the processors publish (a retry storm, a
spend cap breach) and resumes people publish (``handrail resume``). A halted agent or
operation gets deny verdicts naming the halt until it is resumed.

``ControlState`` is pure: it applies control events in any order (they come from several
partitions and producers) and keeps, per target, the latest by event time.
``ControlFollower`` is the I/O: a thread that reads every partition of the topic from the
beginning, then follows it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from handrail.schemas import DecodeError, decode, event_type
from handrail.settings import KafkaSettings

log = logging.getLogger(__name__)

Target = tuple[str, str | None]
"""(agent, operation id); None halts the whole agent."""


@dataclass(frozen=True, slots=True)
class HaltNotice:
    time: datetime
    halted: bool
    reason: str
    alert: str | None

    def describe(self, target: Target) -> str:
        agent, operation = target
        what = f"operation {operation} of {agent}" if operation else f"agent {agent}"
        lift = f"handrail resume {agent}" + (f" --operation {operation}" if operation else "")
        alert = f" (alert {self.alert})" if self.alert else ""
        return f"{what} is halted: {self.reason}{alert}; lift with `{lift}`"


class ControlState:
    def __init__(self) -> None:
        self._targets: dict[Target, HaltNotice] = {}

    def apply(self, record: dict[str, Any]) -> None:
        kind = event_type(record)
        if kind not in ("halt", "resume"):
            return
        p = record["payload"][1]
        target = (p["target_agent"], p["operation_id"] if p["scope"] == "operation" else None)
        notice = HaltNotice(record["time"], kind == "halt", p["reason"], p.get("alert_dedup_key"))
        current = self._targets.get(target)
        if current is None or notice.time >= current.time:
            self._targets[target] = notice

    def halt(self, agent: str, operation: str | None = None) -> str | None:
        """Why ``agent`` (or this operation of it) may not act now; None if it may."""
        for target in ((agent, None), (agent, operation)) if operation else ((agent, None),):
            notice = self._targets.get(target)
            if notice is not None and notice.halted:
                return notice.describe(target)
        return None


class ControlFollower:
    """Reads the control topic into a ``ControlState`` on a daemon thread; never blocks
    the agent (until Kafka answers, no halt is known)."""

    def __init__(self, kafka: KafkaSettings, topic: str, poll_ms: int = 100) -> None:
        self.state = ControlState()
        self._kafka, self._topic, self._poll_ms = kafka, topic, poll_ms
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handrail-control", daemon=True)
        self._thread.start()

    def halt(self, agent: str, operation: str | None = None) -> str | None:
        with self._lock:
            return self.state.halt(agent, operation)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as exc:  # the broker is away: keep the last state, try again
                log.warning("control topic %s: %s", self._topic, exc)
                self._stop.wait(1.0)

    def _follow(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers, enable_auto_commit=False,
            fetch_max_wait_ms=self._poll_ms, **self._kafka.client_options,
        )  # fmt: skip
        try:
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                raise RuntimeError("no such topic yet")
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=self._poll_ms).values():
                    for message in records:
                        self._apply(message.value)
        finally:
            consumer.close()

    def _apply(self, value: bytes) -> None:
        try:
            record = decode(value)[1]
        except DecodeError as exc:
            log.warning("control topic: skipping an undecodable message: %s", exc)
            return
        with self._lock:
            self.state.apply(record)
