"""Following the control channel (I/O): a daemon thread reads it into a ``ControlState``
and wakes whoever waits for a decision. The channel is the control topic when Kafka is
configured, else the control log file (the embedded default). ``read_control`` reads the
channel once, to its current end (the CLI).

The follower never blocks the agent: until the channel answers, no halt is known.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition

from handrail.producers.control import ApprovalRequest, ControlState, HandoffAnswer
from handrail.producers.control_log import Tail
from handrail.schemas import DecodeError, decode
from handrail.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Source(Protocol):
    def poll(self) -> list[bytes]:
        """The next messages (may wait up to the poll interval); raises when unreachable."""

    def at_end(self) -> bool:
        """Everything that was in the channel when it was opened has been polled."""

    def close(self) -> None: ...


class TopicSource:
    """Every partition of the control topic, from the beginning."""

    def __init__(self, settings: Settings, poll_ms: int = 100) -> None:
        kafka, topic = settings.kafka, settings.processors.control_topic
        self._poll_ms = poll_ms
        self._consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False,
            fetch_max_wait_ms=poll_ms, **kafka.client_options,
        )  # fmt: skip
        try:
            partitions = self._consumer.partitions_for_topic(topic)
            if not partitions:
                raise RuntimeError(f"no topic {topic} yet")
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            self._consumer.assign(tps)
            self._consumer.seek_to_beginning(*tps)
            self._end = self._consumer.end_offsets(tps)
        except Exception:
            self._consumer.close()
            raise

    def poll(self) -> list[bytes]:
        batches = self._consumer.poll(timeout_ms=self._poll_ms).values()
        return [m.value for records in batches for m in records]

    def at_end(self) -> bool:
        return all(self._consumer.position(tp) >= end for tp, end in self._end.items())

    def close(self) -> None:
        self._consumer.close()


class LogSource:
    """The control log file, tailed (into its new file when it is compacted)."""

    def __init__(self, settings: Settings, poll_ms: int = 50) -> None:
        self._tail = Tail(settings.spool.control_log)
        self._poll_s = poll_ms / 1000

    def poll(self) -> list[bytes]:
        values = self._tail.read()
        if not values:
            time.sleep(self._poll_s)
        return values

    def at_end(self) -> bool:
        return self._tail.at_end()

    def close(self) -> None:
        self._tail.close()


def open_source(settings: Settings) -> Source:
    return TopicSource(settings) if settings.kafka.bootstrap_servers else LogSource(settings)


def _apply(state: ControlState, values: list[bytes]) -> None:
    for value in values:
        try:
            state.apply(decode(value)[1])
        except DecodeError as exc:
            log.warning("control channel: skipping an undecodable message: %s", exc)


def read_control(settings: Settings) -> ControlState:
    """The whole control channel as it is now (for the CLI); raises when unreachable."""
    state, source = ControlState(), open_source(settings)
    try:
        while not source.at_end():
            _apply(state, source.poll())
    finally:
        source.close()
    return state


class ControlFollower:
    """Keeps ``state`` (what concerns ``agent``) current on a daemon thread."""

    def __init__(self, settings: Settings, agent: str) -> None:
        self.state = ControlState(agent)
        self._settings = settings
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handrail-control", daemon=True)
        self._thread.start()

    def approval(self, approval_id: str, timeout: float) -> ApprovalRequest | None:
        """Wait up to ``timeout`` s for a decision on an approval; None if none came."""
        request = self._wait(lambda: self.state.approvals.get(approval_id), timeout,
                             lambda r: r.state != "pending")  # fmt: skip
        return request if request is not None and request.state != "pending" else None

    def answer(self, handoff_id: str, timeout: float) -> HandoffAnswer | None:
        """Wait up to ``timeout`` s for the receiver's answer to a handoff."""
        return self._wait(lambda: self.state.answers.get(handoff_id), timeout, lambda a: True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _wait(
        self, get: Callable[[], T | None], timeout: float, done: Callable[[T], bool]
    ) -> T | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = get()
                left = deadline - time.monotonic()
                if (value is not None and done(value)) or left <= 0:
                    return value
                self._changed.wait(left)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                source = open_source(self._settings)
            except Exception as exc:  # the broker is away: keep the last state, try again
                log.warning("control channel: %s", exc)
                self._stop.wait(1.0)
                continue
            try:
                while not self._stop.is_set():
                    values = source.poll()
                    if values:
                        with self._changed:
                            _apply(self.state, values)
                            self._changed.notify_all()
            except Exception as exc:
                log.warning("control channel: %s", exc)
                self._stop.wait(1.0)
            finally:
                source.close()
