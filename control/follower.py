"""Following the control channel (I/O): a daemon thread reads it into a ``ControlState``
and wakes whoever waits for a decision. The channel is the control topic when Kafka is
configured, else the control log file (the embedded default). ``read_control`` reads the
channel once, to its current end (the CLI). On Kafka the channel is two topics: the
control topic and the halts topic (``control_topics``).

An agent is bound by the channel from its first ``authorize``: that call waits (at most
``governance.control_wait_s``) until the follower has read the channel to the end it had
when the follower opened it (``caught_up``); until then ``authorize`` denies. Later calls
never wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from handrail.control.log import Tail
from handrail.control.state import ApprovalRequest, ControlState, Forged, HandoffAnswer
from handrail.control.topics import halts_topic
from handrail.governance.authority import Authority
from handrail.schemas import DecodeError, decode
from handrail.settings import Settings

if TYPE_CHECKING:
    from kafka import TopicPartition

log = logging.getLogger(__name__)
T = TypeVar("T")


Message = tuple[bytes, bool]
"""A control entry's bytes, and whether it came from where halts and resumes may travel."""


class Source(Protocol):
    def poll(self) -> list[Message]:
        """The next messages (may wait up to the poll interval); raises when unreachable."""

    def at_end(self) -> bool:
        """Everything that was in the channel when it was opened has been polled."""

    def close(self) -> None: ...


class TopicSource:
    """Every partition of the control topics, from the beginning. A topic that does not
    exist yet holds nothing (nothing was ever sent to it): it counts as read, and is looked
    for again at most once a second until it exists."""

    def __init__(self, settings: Settings, poll_ms: int = 100) -> None:
        kafka, control = settings.kafka, settings.processors.control_topic
        self._poll_ms = poll_ms
        self._halts = halts_topic(control)
        self._missing = [control, self._halts]
        self._looked = 0.0
        self._end: dict[TopicPartition, int] = {}
        from kafka import KafkaConsumer  # noqa: PLC0415 - kafka-python loads only with Kafka

        self._consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False,
            fetch_max_wait_ms=poll_ms, **kafka.client_config,
        )  # fmt: skip
        try:
            self._assign()
        except Exception:
            self._consumer.close()
            raise

    def _assign(self) -> None:
        """Read, from their start, the topics that exist now and were missing."""
        self._looked = time.monotonic()
        from kafka import TopicPartition  # noqa: PLC0415 - loaded by __init__

        found = {t: self._consumer.partitions_for_topic(t) for t in self._missing}
        new = [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps)]
        if not new:
            return
        self._missing = [t for t, ps in found.items() if not ps]
        positions = {tp: self._consumer.position(tp) for tp in self._end}
        self._consumer.assign([*self._end, *new])
        for tp, position in positions.items():  # assigning anew keeps where they were
            self._consumer.seek(tp, position)
        self._consumer.seek_to_beginning(*new)
        self._end |= self._consumer.end_offsets(new)

    def poll(self) -> list[Message]:
        if self._missing and time.monotonic() - self._looked >= 1.0:
            self._assign()
        if not self._end:
            time.sleep(self._poll_ms / 1000)
            return []
        batches = self._consumer.poll(timeout_ms=self._poll_ms).items()
        return [(m.value, tp.topic == self._halts) for tp, records in batches for m in records]

    def at_end(self) -> bool:
        return all(self._consumer.position(tp) >= end for tp, end in self._end.items())

    def close(self) -> None:
        self._consumer.close()


class LogSource:
    """The control log file, tailed (into its new file when it is compacted)."""

    def __init__(self, settings: Settings, poll_ms: int = 50) -> None:
        self._tail = Tail(settings.spool.control_log)
        self._poll_s = poll_ms / 1000

    def poll(self) -> list[Message]:
        values = self._tail.read()
        if not values:
            time.sleep(self._poll_s)
        return [(value, True) for value in values]  # one file: signatures are the only wall

    def at_end(self) -> bool:
        return self._tail.at_end()

    def close(self) -> None:
        self._tail.close()


def open_source(settings: Settings) -> Source:
    return TopicSource(settings) if settings.kafka.bootstrap_servers else LogSource(settings)


def _ignored(entry: Forged) -> None:
    """An agent ignores a forged entry and says so; the processors record and alert it."""
    log.warning("control channel: ignoring a forged %s (%s, from %r): %s", entry.kind,
                entry.event_id, entry.agent, entry.reason)  # fmt: skip


def _apply(state: ControlState, messages: list[Message]) -> None:
    for value, halts in messages:
        try:
            state.apply(decode(value)[1], halts)
        except DecodeError as exc:
            log.warning("control channel: skipping an undecodable message: %s", exc)
        except Exception as exc:  # one hostile entry never stops the entries after it
            log.warning("control channel: skipping an entry that cannot be applied (%s)",
                        type(exc).__name__)  # fmt: skip


def read_control(settings: Settings, authority: Authority | None = None) -> ControlState:
    """The whole control channel as it is now (for the CLI); raises when unreachable."""
    state, source = ControlState(authority=authority), open_source(settings)
    try:
        while not source.at_end():
            _apply(state, source.poll())
    finally:
        source.close()
    return state


class ControlFollower:
    """Keeps ``state`` (what concerns ``agent``; None: everything) current on a daemon
    thread."""

    def __init__(
        self, settings: Settings, agent: str | None, authority: Authority | None = None
    ) -> None:
        self.state = ControlState(agent, authority, _ignored)
        self._settings = settings
        self._changed = threading.Condition()
        self._read = threading.Event()
        """Set once the channel was read to the end it had when the follower opened it."""
        self._deadline: float | None = None
        """When the first ``caught_up`` stops waiting (monotonic s)."""
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

    def read(self, view: Callable[[ControlState], T]) -> T:
        """``view`` of the state, taken while no entry is being applied."""
        with self._changed:
            return view(self.state)

    def caught_up(self) -> bool:
        """Whether the channel was read to its end. The first call waits for it up to
        ``governance.control_wait_s``, and so do the calls made meanwhile; later calls
        never wait."""
        if self._read.is_set():
            return True
        if self._deadline is None:
            self._deadline = time.monotonic() + self._settings.governance.control_wait_s
        return self._read.wait(max(0.0, self._deadline - time.monotonic()))

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
                    if not self._read.is_set() and source.at_end():
                        self._read.set()  # after applying what was read: a halt is known
            except Exception as exc:
                log.warning("control channel: %s", exc)
                self._stop.wait(1.0)
            finally:
                source.close()
