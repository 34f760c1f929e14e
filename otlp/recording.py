"""Mapped spans recorded through the SDK, one ``Recorder`` per agent, as any agent records
its events: the spool or Kafka, sessions and sequence numbers, the same validation."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from handrail.errors import HandrailError
from handrail.otlp.mapping import Lineage, Mapped, map_span, parents_first
from handrail.otlp.spans import Span, spans
from handrail.producers import Recorder
from handrail.schemas.models import Spend
from handrail.settings import AgentIdentity, Settings

log = logging.getLogger(__name__)

CLOSE_S = 10.0
"""How long a recorder closed to make room may take to flush its events."""


@dataclass
class Outcome:
    """What became of a request's spans."""

    recorded: int = 0
    dropped: int = 0
    """Spans that map to no event (docs/otlp.md says which)."""
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, error: str) -> None:
        self.rejected += 1
        if len(self.errors) < 3:
            self.errors.append(error[:300])


class SpanRecorder:
    """Records the events requests' spans map to. Thread-safe: one request at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.otlp = settings.otlp
        self.lineage = Lineage()
        self._recorders: OrderedDict[tuple[str, str], Recorder] = OrderedDict()
        """Open, the least recently used first."""
        self._lock = threading.Lock()

    def record(self, request: ExportTraceServiceRequest) -> Outcome:
        outcome = Outcome()
        with self._lock:
            batch = parents_first(spans(request))
            for span in batch:
                self.lineage.note(span)
            for span in batch:
                try:
                    mapped = map_span(span, self.lineage, self.otlp.owner)
                except (ValueError, TypeError) as exc:
                    outcome.reject(f"span {span.span_id[:16] or '?'}: {exc}")
                    continue
                if not mapped:
                    outcome.dropped += 1
                    continue
                cause = self.lineage.cause(span)
                refused = [error for event in mapped if (error := self._record(span, event, cause))]
                if refused:  # each event on its own: one refused loses none of the others
                    outcome.reject(f"span {span.span_id}: {refused[0]}")
                else:
                    outcome.recorded += 1
        return outcome

    def _record(self, span: Span, event: Mapped, cause: str | None) -> str:
        """Record one event; return why the SDK refused it, or ""."""
        try:
            recorder = self._recorder(event.agent, event.owner)
            ref = recorder.record(
                event.payload, workflow_id=event.workflow_id, caused_by=cause,
                labels={"otel.trace_id": span.trace_id, "otel.span_id": span.span_id},
            )  # fmt: skip
        except (ValueError, TypeError, HandrailError) as exc:
            return str(exc)
        self.lineage.recorded(span, ref.event_id)
        if isinstance(event.payload, Spend):
            self.lineage.model_called(span, ref.event_id)
        return ""

    def _recorder(self, agent: str, owner: str) -> Recorder:
        """The agent's recorder; past ``otlp.max_agents`` open ones, the least recently used
        is closed first (its events flushed; the agent gets a new session if it comes back)."""
        key = (agent, owner)
        recorder = self._recorders.get(key)
        if recorder is not None:
            self._recorders.move_to_end(key)
            return recorder
        while len(self._recorders) >= self.otlp.max_agents:
            _, oldest = self._recorders.popitem(last=False)
            oldest.close(CLOSE_S)
        identity = AgentIdentity(name=agent, owner=owner)
        recorder = self._recorders[key] = Recorder(self.settings, identity)
        return recorder

    def flush(self, timeout: float | None = None) -> None:
        for recorder in list(self._recorders.values()):
            recorder.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            for recorder in self._recorders.values():
                recorder.close(timeout)
            self._recorders.clear()
