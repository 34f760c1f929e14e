"""The named types (records, enums, fixed) an Avro schema defines, wherever they nest."""

from __future__ import annotations

from typing import Any


def named_types(schema: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type defined in ``schema``, by its name as the schema gives it (the
    full name in a fastavro-parsed schema)."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            found[schema["name"]] = schema
        for field in schema.get("fields", ()):
            named_types(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], found)
    return found
