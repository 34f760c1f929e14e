"""The compiled writer writes fastavro's bytes exactly, and hands every other shape to fastavro."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer

from handrail.schemas import encode, registry
from handrail.schemas.compiled_writer import UnsupportedShapeError, compile_writer
from handrail.schemas.named_types import named_types
from handrail.schemas.registry import MAGIC, SchemaVersion
from tests.support.samples import NOW, SAMPLE_FIELDS, event_record

TEXT = "aZ09 -_.éß✓𝄞"
"""Characters of 1 to 4 UTF-8 bytes: string lengths cross the one-byte varint limit (63)."""


def fastavro_bytes(record: dict[str, Any], version: SchemaVersion) -> bytes:
    out = BytesIO()
    out.write(MAGIC + version.fingerprint)
    schemaless_writer(out, version.parsed, record)
    return out.getvalue()


def random_long(rng: random.Random, bits: int) -> int:
    top = (1 << (bits - 1)) - 1
    edges = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, top, -top - 1]
    return rng.choice(edges) if rng.random() < 0.5 else rng.randint(-top - 1, top)


def random_datum(schema: Any, named: dict[str, Any], rng: random.Random) -> Any:
    """Any value fastavro accepts for ``schema``, in the shapes the SDK builds (and a few
    more the compiled writer converts: aware datetimes, UUID objects, ints for doubles)."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        branch = rng.choice(schema)
        branch = named.get(branch, branch) if isinstance(branch, str) else branch
        value = random_datum(branch, named, rng)
        several = len([b for b in schema if b != "null"]) > 1
        if several and isinstance(branch, dict) and branch["type"] == "record":
            return (branch["name"], value)
        return value
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "null":
        return None
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "int":
        return random_long(rng, 32)
    if kind == "long" and logical == "timestamp-micros" and rng.random() < 0.5:
        return datetime.fromtimestamp(rng.uniform(0, 4e9), UTC)
    if kind == "long":
        return random_long(rng, 64)
    if kind in ("double", "float"):
        return rng.choice([0.0, -1.5, 1e300, float("inf"), 3, rng.uniform(-1e6, 1e6)])
    if kind == "string" and logical == "uuid":
        return uuid.uuid4() if rng.random() < 0.5 else str(uuid.uuid4())
    if kind == "string":
        return "".join(rng.choice(TEXT) for _ in range(rng.choice([0, 1, 20, 63, 64, 200])))
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        return [random_datum(schema["items"], named, rng) for _ in range(rng.randint(0, 3))]
    if kind == "map":
        size = rng.randint(0, 3)
        return {f"k{i}{TEXT[i]}": random_datum(schema["values"], named, rng) for i in range(size)}
    assert kind == "record", kind
    record = {}
    for field in schema["fields"]:
        optional = "default" in field or (
            isinstance(field["type"], list) and "null" in field["type"]
        )
        if not (optional and rng.random() < 0.2):  # leave some out: their default is written
            record[field["name"]] = random_datum(field["type"], named, rng)
    return record


@pytest.mark.parametrize("version", registry().versions, ids=lambda v: f"v{v.version}")
def test_random_events_of_every_type_are_byte_identical(version: SchemaVersion) -> None:
    rng = random.Random(version.version)
    named = named_types(version.parsed)
    payload_names = set()
    for _ in range(3000):
        record = random_datum(version.parsed, named, rng)
        payload_names.add(record["payload"][0])
        assert bytes(version.writer(record)) == fastavro_bytes(record, version), record
    assert len(payload_names) == len(version.parsed["fields"][-1]["type"])  # every type seen


@pytest.mark.parametrize("kind", sorted(SAMPLE_FIELDS))
def test_sample_events_are_byte_identical(kind: str) -> None:
    record = event_record(kind)
    assert encode(record) == fastavro_bytes(record, registry().current)
    assert bytes(registry().current.writer(record)) == encode(record)


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key] if key != "payload" else target[key][1]
        target[path[-1]] = value

    return change


def _drop_payload_field(record: dict[str, Any]) -> None:
    del record["payload"][1]["action"]


def _payload_as_list(record: dict[str, Any]) -> None:
    record["payload"] = list(record["payload"])


def _unknown_branch(record: dict[str, Any]) -> None:
    record["payload"] = ("handrail.NoSuchEvent", record["payload"][1])


SHAPES = {
    "naive datetime": _set(("time",), datetime(2026, 11, 24, 6, 0)),
    "bool for a long": _set(("sequence",), True),
    "float for a long": _set(("sequence",), 1.0),
    "long out of range": _set(("sequence",), 1 << 64),
    "bytes for a string": _set(("workflow_id",), b"wf"),
    "tuple for an array": _set(("payload", "alternatives"), ("escalate",)),
    "int for a boolean": _set(("payload", "checks"), [{"name": "c", "passed": 1, "detail": None}]),
    "a required field missing": _drop_payload_field,
    "a list for the payload": _payload_as_list,
    "an unknown payload type": _unknown_branch,
    "an int map value": _set(("labels",), {"env": 1}),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_other_shapes_go_to_fastavro(shape: str) -> None:
    """The compiled writer declines; ``encode`` then gives fastavro's bytes or its error."""
    record = event_record("decision_made")
    SHAPES[shape](record)
    current = registry().current
    with pytest.raises((UnsupportedShapeError, KeyError, TypeError, AttributeError)):
        current.writer(record)
    try:
        expected = fastavro_bytes(record, current)
    except Exception as exc:  # fastavro's own verdict on the record
        with pytest.raises(type(exc)):
            encode(record)
    else:
        assert encode(record) == expected


def test_schema_features_it_does_not_compile_are_handed_over() -> None:
    parsed = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "blob", "type": "bytes"}, {"name": "n", "type": "long"}],
    }
    writer = compile_writer(parsed, b"")
    with pytest.raises(UnsupportedShapeError):
        writer({"blob": b"x", "n": 1})


def test_the_prefix_leads_every_message() -> None:
    record = event_record("heartbeat", sequence=NOW.year)
    message = bytes(registry().current.writer(record))
    assert message[:10] == MAGIC + registry().current.fingerprint
