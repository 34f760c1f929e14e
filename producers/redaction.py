"""Scrub secrets and PII from events before they are encoded.

A redaction path names string fields from the event's root, dots between names:
``payload.rationale`` (in every event type that has it), ``payload.inputs.value`` (lists
are crossed transparently), ``labels.customer_email`` (a map key). Each matching value
becomes ``[REDACTED]``. Paths are checked against the schema when the recorder starts.
"""

from __future__ import annotations

from typing import Any

from handrail.producers.errors import ConfigurationError
from handrail.schemas import EventRecord, registry
from handrail.schemas.named_types import named_types

REDACTED = "[REDACTED]"


def _is_string(t: Any) -> bool:
    if isinstance(t, list):
        return any(_is_string(b) for b in t)
    if isinstance(t, dict):
        return bool(
            t.get("type") == "string" or (t.get("type") == "array" and _is_string(t["items"]))
        )
    return bool(t == "string")


def _resolves(t: Any, rest: list[str], named: dict[str, Any]) -> bool:
    if isinstance(t, str) and t in named:
        t = named[t]
    if not rest:
        return _is_string(t)
    if isinstance(t, list):
        return any(_resolves(b, rest, named) for b in t)
    if not isinstance(t, dict):
        return False
    if t.get("type") == "array":
        return _resolves(t["items"], rest, named)
    if t.get("type") == "map":
        return len(rest) == 1 and _is_string(t["values"])
    fields = {f["name"]: f["type"] for f in t.get("fields", [])}
    return rest[0] in fields and _resolves(fields[rest[0]], rest[1:], named)


class Redactor:
    """Applies a fixed set of redaction paths to event records."""

    def __init__(self, paths: list[str]) -> None:
        schema = registry().current.schema
        named = named_types(schema)
        for path in paths:
            if not _resolves(schema, path.split("."), named):
                raise ConfigurationError(
                    f"redaction path {path!r} names no string field of the event schema"
                )
        self._paths = [path.split(".") for path in paths]

    def __bool__(self) -> bool:
        return bool(self._paths)

    def apply(self, record: EventRecord) -> None:
        """Redact ``record`` in place."""
        for path in self._paths:
            _scrub(record, path)


def _scrub(node: Any, path: list[str]) -> None:
    if isinstance(node, tuple):  # the payload union branch: (avro name, fields)
        node = node[1]
    if isinstance(node, list):
        for item in node:
            _scrub(item, path)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    key, rest = path[0], path[1:]
    if rest:
        _scrub(node[key], rest)
    elif isinstance(node[key], str):
        node[key] = REDACTED
    elif isinstance(node[key], list):
        node[key] = [REDACTED if isinstance(v, str) else v for v in node[key]]
