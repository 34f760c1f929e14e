"""An OTLP/HTTP traces request body into the protobuf request (pure, no I/O).

OTLP/HTTP sends ``ExportTraceServiceRequest`` as binary protobuf
(``application/x-protobuf``) or as its JSON mapping (``application/json``), where trace
and span ids are hex strings instead of protobuf JSON's base64. Parsing is
opentelemetry-proto's; the HTTP server has decompressed and bounded the body.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
"""Ids in hex: protobuf's JSON parser takes either spelling of a field's name."""


class RequestError(Exception):
    """The request cannot be taken; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse(body: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    """The request in ``body`` (already decompressed), by its media type."""
    kind = media_type(content_type)
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise RequestError(400, f"not an OTLP protobuf traces request: {exc}") from None
        return request
    if kind == JSON:
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise ValueError("the body is not a JSON object")
            _hex_ids_to_base64(data)
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (ValueError, TypeError, RecursionError, json_format.ParseError) as exc:
            raise RequestError(400, f"not an OTLP JSON traces request: {exc}") from None
        return request
    raise RequestError(415, f"unsupported Content-Type {kind[:60]!r} ({PROTOBUF} or {JSON})")


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP JSON carries ids as hex; protobuf's JSON mapping reads bytes as base64."""
    for item in _list(_either(data, "resourceSpans", "resource_spans")):
        for scope_spans in _list(_either(_dict(item), "scopeSpans", "scope_spans")):
            for entry in _list(_dict(scope_spans).get("spans")):
                span = _dict(entry)
                _convert(span)
                for link in _list(span.get("links")):
                    _convert(_dict(link))


def _either(item: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under either of the names protobuf's JSON parser takes."""
    return item.get(camel, item.get(snake))


def _convert(item: dict[str, Any]) -> None:
    for name in ID_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            try:
                item[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise ValueError(f"{name} is not hex: {value[:40]!r}") from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {type(value).__name__}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value
