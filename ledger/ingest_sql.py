"""ClickHouse decodes the events' Avro itself: the ``events_ingest`` DDL (pure, no I/O).

The sink hands each batch of events to ClickHouse as one Avro object container file of
``Row`` records (``row_schema``; written by ``ledger/ingest_block.py``): the event's Kafka
position, schema version, chain hashes and raw message, then the event itself (its body as
the producer wrote it, in the current schema), then the offset again as a sentinel. The
table ``events_ingest_vN`` (engine Null, N the current schema version) receives them and
the materialized view ``events_ingest_vN_mv`` turns each into an ``events`` row: the event
as JSON and every typed column, computed as ``ledger/rows.py`` computes them in Python
(``verify`` recomputes them from the stored JSON and compares). A row whose sentinel does
not match (a body that is not exactly one event), whose event type, id (not a UUID in its
canonical text), time or sequence the ledger cannot hold, or whose JSON would not be valid
fails the whole insert; the sink
then writes that stretch of the partition the careful way (``ledger/sink.py``).

The view's JSON is made by SQL that ``rendering_select`` shares: it makes the same text of
stored rows' raw messages read back through ``avro_input``, without writing anything, so
that ``verify`` can hold each fast-path row's ``event_json`` against it byte for byte.

ClickHouse reads the payload union into a ``Variant`` of ``Tuple`` types, one per payload
record, which needs every record's shape to differ: the fields of a record shaped like an
earlier one (``ApprovalDenied`` like ``ApprovalGranted``) get the suffix ``__<type>`` in
``row_schema``. Field names do not change the binary encoding, and the view takes the
suffix off again when it writes the JSON.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from handrail.schemas import AVRO_NAMES, SchemaVersion
from handrail.schemas.named_types import named_types
from handrail.schemas.vocabulary import APPROVAL_STATES

_PRIMITIVES = {
    "string": "String", "bytes": "String", "boolean": "Bool", "int": "Int32", "long": "Int64",
    "float": "Float32", "double": "Float64",
}  # fmt: skip
_TIMESTAMP = "DateTime64(6)"
"""As ClickHouse's Avro input reads a timestamp-micros (rendered in the session's time
zone: the sink's ingest inserts set UTC)."""
TIME_RANGE_US = (0, 10_413_791_999_999_999)
"""The envelope times the fast path takes (1970 to the end of ``DateTime64``'s 2299)."""
_TYPE_NAMES = {avro.rsplit(".", 1)[-1]: tag for tag, avro in AVRO_NAMES.items()}


def table_name(version: SchemaVersion) -> str:
    return f"events_ingest_v{version.version}"


def _payload(event_schema: dict[str, Any]) -> list[dict[str, Any]]:
    payload: list[dict[str, Any]] = next(
        f["type"] for f in event_schema["fields"] if f["name"] == "payload"
    )
    return payload


def short_named_types(avro: Any) -> dict[str, Any]:
    """Every named type (record, enum, fixed) defined in ``avro``, by short name."""
    return {name.rsplit(".", 1)[-1]: t for name, t in named_types(avro).items()}


def clickhouse_type(avro: Any, named: dict[str, Any]) -> str:
    """The ClickHouse type that ClickHouse's Avro input reads ``avro`` into, as
    ``variantType`` names it; ``named``: the schema's ``short_named_types``."""
    if isinstance(avro, str):
        if avro not in _PRIMITIVES:
            return clickhouse_type(named[avro.rsplit(".", 1)[-1]], named)
        return _PRIMITIVES[avro]
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) == 1 and len(avro) == 2:
            return f"Nullable({clickhouse_type(branches[0], named)})"
        return f"Variant({', '.join(sorted(clickhouse_type(b, named) for b in branches))})"
    kind = avro["type"]
    if avro.get("logicalType") == "timestamp-micros":
        return _TIMESTAMP
    if kind == "record":
        fields = [f"{f['name']} {clickhouse_type(f['type'], named)}" for f in avro["fields"]]
        return f"Tuple({', '.join(fields)})"
    if kind == "array":
        return f"Array({clickhouse_type(avro['items'], named)})"
    if kind == "map":
        return f"Map(String, {clickhouse_type(avro['values'], named)})"
    if kind == "enum":
        return "Enum8(" + ", ".join(f"'{s}' = {i}" for i, s in enumerate(avro["symbols"])) + ")"
    return clickhouse_type(kind, named)


def _shape(avro: Any, named: dict[str, Any]) -> str:
    return re.sub(r"\b\w+ (?=[A-Z])", "", clickhouse_type(avro, named))  # without names


def row_schema(event_schema: dict[str, Any]) -> dict[str, Any]:
    """The Avro schema of an ingest row; its ``event`` is ``event_schema`` with the fields of
    a payload record shaped like an earlier one renamed (``name__type``)."""
    event = copy.deepcopy(event_schema)
    named = short_named_types(event)
    seen: set[str] = set()
    for record in _payload(event):
        shape = _shape(record, named)
        if shape in seen:
            suffix = _TYPE_NAMES[record["name"]]
            for f in record["fields"]:
                f["name"] = f"{f['name']}__{suffix}"
        seen.add(shape)
    for f in event["fields"]:  # the view formats and checks these two itself
        if f["name"] in ("event_id", "time"):
            f["type"] = f["type"]["type"]

    def fixed(name: str, size: int) -> dict[str, Any]:
        return {"name": name, "type": {"type": "fixed", "name": f"{name}_bytes", "size": size}}

    return {
        "type": "record", "name": "Row", "namespace": "handrail.ledger",
        "fields": [
            {"name": "topic", "type": "string"},
            fixed("partition", 4), fixed("offset", 8), fixed("schema_version", 2),
            {"name": "prev_hash", "type": "string"}, {"name": "row_hash", "type": "string"},
            {"name": "raw", "type": "bytes"},
            {"name": "event", "type": event},
            fixed("sentinel", 8),
        ],
    }  # fmt: skip


def _columns(row: dict[str, Any]) -> str:
    named = short_named_types(row)
    out = []
    for f in row["fields"]:
        t = f["type"]
        if isinstance(t, dict) and t["type"] == "fixed":
            out.append(f"    {f['name']} FixedString({t['size']})")
        else:
            out.append(f"    {f['name']} {clickhouse_type(t, named)}")
    return ",\n".join(out)


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _iso(expr: str) -> str:
    """SQL: a DateTime64(6) as orjson writes a UTC ``datetime`` (micros only when not 0)."""
    micros = f"toUnixTimestamp64Micro({expr}) % 1000000"
    return (
        f"concat(formatDateTime({expr}, '%Y-%m-%dT%H:%i:%S'), "
        f"if({micros} = 0, '', concat('.', leftPad(toString({micros}), 6, '0'))), '+00:00')"
    )


def _payload_json(event: dict[str, Any]) -> str:
    """SQL: the payload's JSON as ``rows.flat_event`` has it (``type`` first)."""
    plain = "assumeNotNull(toJSONString(event.payload))"
    fixes = []
    for record in _payload(event):
        fix, tag = plain, _TYPE_NAMES[record["name"]]
        if any("__" in f["name"] for f in record["fields"]):  # renamed (``row_schema``)
            fix = f"replaceRegexpAll({fix}, '\"(\\\\w+?)__{tag}\":', '\"\\\\1\":')"
        for f in record[
            "fields"
        ]:  # "2026-11-24 20:43:17.431608" -> "2026-11-24T20:43:17.431608+00:00"
            if "timestamp-micros" in str(f["type"]):
                name = f["name"]
                pattern = f'"{name}":"([^ ]+) ([^".]+)(\\\\.0{{6}})?([^"]*)"'
                fix = (
                    f"replaceRegexpOne({fix}, '{pattern}', '\"{name}\":\"\\\\1T\\\\2\\\\4+00:00\"')"
                )
        if fix != plain:
            fixes.append(f"kind = '{tag}', {fix}")
    body = f"multiIf({', '.join(fixes)}, {plain})" if fixes else plain
    return (
        "concat('{\"type\":\"', kind, '\"', if(length(payload_body) = 2, '}', "
        "concat(',', substring(payload_body, 2))))"
    ).replace("payload_body", body)


def ingest_columns(version: SchemaVersion) -> str:
    """The ingest table's columns (``name Type``, one a line): its ``CREATE TABLE``'s, and the
    structure ``avro_input`` reads a container with."""
    return _columns(row_schema(version.schema))


def _rendering(version: SchemaVersion) -> str:
    """SQL: the ``WITH`` items that make of each ingest row its event's JSON (``json``, the
    ``event_json`` the view writes), its offset (``position``) and whether the fast path
    refuses it (``refused``); the view and ``rendering_select`` share them."""
    row = row_schema(version.schema)
    event = next(f["type"] for f in row["fields"] if f["name"] == "event")
    payload = next(f["type"] for f in event["fields"] if f["name"] == "payload")
    named = short_named_types(row)
    kinds = [(clickhouse_type(r, named), _TYPE_NAMES[r["name"]]) for r in payload]
    low, high = TIME_RANGE_US
    names = ", ".join(literal(t) for t, _ in kinds)
    tags = ", ".join(f"'{k}'" for _, k in kinds)
    return f"""    transform(variantType(event.payload), [{names}], [{tags}], '') AS kind,
    {_payload_json(event)} AS payload_json,
    fromUnixTimestamp64Micro(event.time, 'UTC') AS at,
    concat(
        '{{"agent":', toJSONString(event.agent),
        ',"causation_id":', ifNull(toJSONString(event.causation_id), 'null'),
        ',"event_id":"', toString(toUUID(event.event_id)),
        '","labels":', toJSONString(event.labels),
        ',"payload":', payload_json,
        ',"session_id":', toJSONString(event.session_id),
        ',"sequence":', toString(event.sequence),
        ',"time":"', {_iso("at")},
        '","workflow_id":', toJSONString(event.workflow_id), '}}'
    ) AS json,
    reinterpretAsUInt64(offset) AS position,
    (
        kind = '' OR reinterpretAsUInt64(sentinel) != position OR event.sequence < 0
        OR toString(toUUID(event.event_id)) != event.event_id
        OR event.time < {low} OR event.time > {high} OR NOT isValidJSON(json)
    ) AS refused"""


def rendering_select(version: SchemaVersion, source: str) -> str:
    """SQL, read-only: the ``event_json`` that the view writes of each ingest row in
    ``source`` (a table, or ``avro_input``), NULL for a row the fast path refuses, with the
    row's offset, in ``source``'s order. ``verify`` holds stored rows against it (run with
    the settings of the sink's ingest inserts: the text depends on some)."""
    return (
        f"WITH\n{_rendering(version)}\n"
        f"SELECT position AS offset, if(refused, NULL, json) AS event_json FROM {source}"
    )


def avro_input(version: SchemaVersion, container: bytes) -> str:
    """SQL: a table function that reads ``container`` (an Avro object container file of
    ``version``'s ingest rows, ``ingest_block.BlockWriter``) as the ingest table does."""
    columns = " ".join(ingest_columns(version).split())
    data = base64.b64encode(container).decode()
    return f"format(Avro, {literal(columns)}, base64Decode('{data}'))"


def ingest_statements(version: SchemaVersion) -> list[str]:
    """``CREATE`` statements (idempotent) of ``version``'s ingest table and view."""
    table = table_name(version)
    create = f"CREATE TABLE IF NOT EXISTS {table}\n(\n{ingest_columns(version)}\n)\nENGINE = Null"
    approval_kinds = ", ".join(map(literal, APPROVAL_STATES))
    approval_states = ", ".join(map(literal, APPROVAL_STATES.values()))
    view = f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO events AS
WITH
{_rendering(version)},
    JSONExtractString(payload_json, 'rationale') AS rationale,
    JSONExtractString(payload_json, 'reason') AS reason_text,
    JSONExtractArrayRaw(payload_json, 'checks') AS checks,
    throwIf(refused, 'an event the fast path cannot take') AS rejected
SELECT
    toUUID(event.event_id) AS event_id,
    kind AS type,
    at AS time,
    event.workflow_id AS workflow_id,
    ifNull(event.causation_id, '') AS causation_id,
    event.agent.name AS agent,
    event.agent.version AS agent_version,
    event.agent.owner AS owner,
    event.session_id AS session_id,
    event.sequence AS sequence,
    JSONExtractString(payload_json, 'action') AS action,
    JSONExtractString(payload_json, 'resource') AS resource,
    multiIf(rationale != '', rationale, reason_text != '', reason_text,
            JSONExtractString(payload_json, 'error_message')) AS reason,
    if(kind = 'spend', JSONExtractFloat(payload_json, 'usd'), 0) AS cost_usd,
    JSONExtractString(payload_json, 'effect') AS effect,
    JSONExtractString(payload_json, 'rule') AS rule,
    arrayMap(c -> JSONExtractString(c, 'name'),
             arrayFilter(c -> JSONExtractBool(c, 'passed'), checks)) AS checks_passed,
    arrayMap(c -> JSONExtractString(c, 'name'),
             arrayFilter(c -> NOT JSONExtractBool(c, 'passed'), checks)) AS checks_failed,
    JSONExtractString(payload_json, 'handoff_id') AS handoff_id,
    multiIf(kind = 'handoff_offered', event.agent.name,
            kind IN ('handoff_accepted', 'handoff_rejected'),
            JSONExtractString(payload_json, 'from_agent'), '') AS handoff_from,
    multiIf(kind = 'handoff_offered', JSONExtractString(payload_json, 'to_agent'),
            kind IN ('handoff_accepted', 'handoff_rejected'), event.agent.name, '') AS handoff_to,
    JSONExtractString(payload_json, 'approval_id') AS approval_id,
    transform(kind, [{approval_kinds}], [{approval_states}], '') AS approval_state,
    reinterpretAsUInt16(schema_version) AS schema_version,
    json AS event_json,
    topic,
    reinterpretAsUInt32(partition) AS partition,
    position + rejected AS offset,
    prev_hash,
    row_hash,
    lower(hex(raw)) AS raw_hex
FROM {table}"""
    return [create, view]
