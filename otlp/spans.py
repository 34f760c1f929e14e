"""The protobuf traces request as plain span views (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

MAX_DEPTH = 8
"""Nested attribute values below this depth are dropped (a hostile request nests deeper)."""


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    """Hex, as OTLP JSON writes it."""
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    failed: bool
    """The span's status is ERROR."""
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)
    exception: dict[str, Any] = field(default_factory=dict)
    """The attributes of its first ``exception`` event, if any."""

    @property
    def duration_ms(self) -> float | None:
        if self.end_ns < self.start_ns or not self.start_ns:
            return None
        return (self.end_ns - self.start_ns) / 1e6


def spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of the request, with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                exception = next(
                    (attributes(e.attributes) for e in span.events if e.name == "exception"), {}
                )
                yield Span(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    failed=span.status.code == Status.STATUS_CODE_ERROR,
                    status_message=span.status.message,
                    attributes=attributes(span.attributes),
                    resource=resource,
                    exception=exception,
                )


def attributes(pairs: Any) -> dict[str, Any]:
    """Key-value pairs as a dict of plain values (the last of a repeated key wins)."""
    return {kv.key: value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


def value(v: AnyValue, depth: int = 0) -> Any:
    kind = v.WhichOneof("value")
    if kind is None or depth > MAX_DEPTH:
        return None
    if kind == "array_value":
        return [value(x, depth + 1) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)
