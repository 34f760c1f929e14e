"""A faster Avro binary writer for our event schema, compiled from the schema itself.

fastavro's ``schemaless_writer`` walks the schema on every call: 18-30 us for a decision
event (29 fields), the largest single cost of shipping an event. ``compile_writer`` turns
a fastavro-parsed record schema into the Python source of one function that writes that
schema's fields in order into a ``bytearray``, and compiles it once. It writes a decision
in about 6 us, byte for byte what fastavro writes (``tests/unit/test_compiled_writer.py``
compares them on thousands of random events of every type and every released version).

The function takes the shapes the SDK builds: ``str`` (or ``UUID``) for strings, ``int``
for longs (or an aware ``datetime`` for timestamp-micros), ``list`` and ``dict`` for
arrays and maps, ``(full name, fields)`` for a union of records, fields with a default
may be left out. On anything else it raises, and ``wire.encode`` hands the record to
fastavro, which writes or rejects it as it always did. Schema parts it does not compile
(bytes, fixed, unions other than null-or-one-type and records) raise the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from struct import Struct
from typing import Any
from uuid import UUID

from handrail.schemas.named_types import named_types
from handrail.schemas.timestamps import to_micros

Writer = Callable[[dict[str, Any]], bytearray]
"""A compiled writer: the prefix, then the record's Avro binary encoding."""


class UnsupportedShapeError(Exception):
    """The record (or the schema) is outside what the compiled writer handles."""


def avro_long(n: int) -> bytes:
    """Avro's zig-zag varint of ``n``, a 64-bit signed integer."""
    if not -(1 << 63) <= n < 1 << 63:
        raise UnsupportedShapeError("long out of range")
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _micros(value: object) -> int:
    """An aware datetime as timestamp-micros; anything else is fastavro's to judge."""
    if type(value) is not datetime or value.tzinfo is None:
        raise UnsupportedShapeError("timestamp-micros")
    return to_micros(value)


def _decline(what: str) -> None:
    raise UnsupportedShapeError(what)


class _Source:
    """The generated function's lines, its constants and fresh local names."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.constants: dict[str, object] = {
            "_long": avro_long,
            "_micros": _micros,
            "_decline": _decline,
            "_double": Struct("<d").pack,
            "_float": Struct("<f").pack,
            "UUID": UUID,
        }
        self._n = 0

    def local(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def constant(self, value: object) -> str:
        name = self.local("_c")
        self.constants[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def resolve(self, schema: Any) -> Any:
        return self.named.get(schema, schema) if isinstance(schema, str) else schema


Emitter = Callable[[_Source, Any, str, int], None]
"""Emits the lines that append ``value`` (a local name) written as ``schema``."""


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    return schema if isinstance(schema, str) else str(schema["type"])


def _write(src: _Source, schema: Any, value: str, ind: int) -> None:
    """Bind ``value`` (any expression) to a local and emit its writing as ``schema``."""
    schema = src.resolve(schema)
    v = src.local("v")
    src.emit(ind, f"{v} = {value}")
    _EMITTERS.get(_kind(schema), _unsupported)(src, schema, v, ind)


def _unsupported(src: _Source, schema: Any, v: str, ind: int) -> None:
    src.emit(ind, f"_decline({_kind(schema)!r})")


def _null(src: _Source, schema: Any, v: str, ind: int) -> None:
    src.emit(ind, f"if {v} is not None: _decline('null')")


def _boolean(src: _Source, schema: Any, v: str, ind: int) -> None:
    src.emit(ind, f"b.append(1 if {v} is True else 0 if {v} is False else _decline('boolean'))")


def _integer(src: _Source, schema: Any, v: str, ind: int) -> None:
    kind = _kind(schema)
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-micros":
        src.emit(ind, f"if type({v}) is not int: {v} = _micros({v})")
    else:
        src.emit(ind, f"if type({v}) is not int: _decline({kind!r})")
    if kind == "int":
        src.emit(ind, f"if not -0x80000000 <= {v} <= 0x7FFFFFFF: _decline('int')")
    src.emit(ind, f"if 0 <= {v} < 64: b.append({v} << 1)")
    src.emit(ind, f"else: b += _long({v})")


def _floating(src: _Source, schema: Any, v: str, ind: int) -> None:
    kind = _kind(schema)
    src.emit(ind, f"if type({v}) is not float and type({v}) is not int: _decline({kind!r})")
    src.emit(ind, f"b += _{kind}({v})")


def _string(src: _Source, schema: Any, v: str, ind: int) -> None:
    if isinstance(schema, dict) and schema.get("logicalType") == "uuid":
        src.emit(ind, f"if type({v}) is UUID: {v} = str({v})")
    src.emit(ind, f"{v} = {v}.encode()")
    src.emit(ind, f"if len({v}) < 64: b.append(len({v}) << 1)")
    src.emit(ind, f"else: b += _long(len({v}))")
    src.emit(ind, f"b += {v}")


def _enum(src: _Source, schema: Any, v: str, ind: int) -> None:
    index = src.constant({symbol: avro_long(i) for i, symbol in enumerate(schema["symbols"])})
    src.emit(ind, f"b += {index}[{v}]")


def _record(src: _Source, schema: Any, v: str, ind: int) -> None:
    for field in schema["fields"]:
        _write(src, field["type"], _field(src, v, field), ind)


def _field(src: _Source, record: str, field: dict[str, Any]) -> str:
    """One field's value, with fastavro's rule for a missing field: its default, else
    None when its type is a union with null, else an error."""
    name = field["name"]
    if "default" in field:
        return f"{record}.get({name!r}, {src.constant(field['default'])})"
    if isinstance(field["type"], list) and "null" in field["type"]:
        return f"{record}.get({name!r})"
    return f"{record}[{name!r}]"


def _blocks(src: _Source, schema: Any, v: str, ind: int) -> None:
    """An array or a map: one block of every item, then the empty block."""
    kind = _kind(schema)
    src.emit(
        ind, f"if type({v}) is not {'list' if kind == 'array' else 'dict'}: _decline({kind!r})"
    )
    src.emit(ind, f"if {v}:")
    src.emit(ind + 1, f"b += _long(len({v}))")
    item = src.local("i")
    if kind == "array":
        src.emit(ind + 1, f"for {item} in {v}:")
    else:
        key = src.local("k")
        src.emit(ind + 1, f"for {key}, {item} in {v}.items():")
        _write(src, "string", key, ind + 2)
    _write(src, schema["items" if kind == "array" else "values"], item, ind + 2)
    src.emit(ind, "b.append(0)")


def _union(src: _Source, schema: Any, v: str, ind: int) -> None:
    branches = [src.resolve(branch) for branch in schema]
    kinds = [_kind(branch) for branch in branches]
    if kinds.count("null") == 1 and len(kinds) == 2:
        null = kinds.index("null")
        src.emit(ind, f"if {v} is None: b.append({null << 1})")
        src.emit(ind, "else:")
        src.emit(ind + 1, f"b.append({(1 - null) << 1})")
        _EMITTERS.get(kinds[1 - null], _unsupported)(src, branches[1 - null], v, ind + 1)
    elif set(kinds) == {"record"} and len(kinds) < 64:  # tuple notation: (full name, fields)
        tag, fields = src.local("t"), src.local("f")
        src.emit(ind, f"if type({v}) is not tuple: _decline('union')")
        src.emit(ind, f"{tag}, {fields} = {v}")
        for i, branch in enumerate(branches):
            src.emit(ind, f"{'el' if i else ''}if {tag} == {branch['name']!r}:")
            src.emit(ind + 1, f"b.append({i << 1})")
            _record(src, branch, fields, ind + 1)
        src.emit(ind, "else: _decline('union branch')")
    else:
        _unsupported(src, schema, v, ind)


_EMITTERS: dict[str, Emitter] = {
    "null": _null,
    "boolean": _boolean,
    "int": _integer,
    "long": _integer,
    "float": _floating,
    "double": _floating,
    "string": _string,
    "enum": _enum,
    "record": _record,
    "array": _blocks,
    "map": _blocks,
    "union": _union,
}


def compile_writer(parsed: Any, prefix: bytes = b"") -> Writer:
    """The compiled writer of ``parsed``, a fastavro-parsed record schema."""
    src = _Source(named_types(parsed))
    src.emit(0, "def write(record):")
    src.emit(1, f"b = bytearray({src.constant(prefix)})")
    _write(src, parsed, "record", 1)
    src.emit(1, "return b")
    namespace = dict(src.constants)
    exec(compile("\n".join(src.lines), "<handrail compiled writer>", "exec"), namespace)
    writer: Writer = namespace["write"]  # type: ignore[assignment]
    return writer
