"""Generate ``schemas/models.py`` and ``schemas/fields.py`` from the newest Avro schema.

The Avro schema (``schemas/avro/event.vN.avsc``) is the only hand-kept definition of an
event; this script derives from it the pydantic models (``models.py``) and, for the SDK's
hot path, TypedDicts of every payload (``fields.py``: validated straight into the dicts
fastavro encodes). ``--check`` exits 1 when a committed file is stale (CI runs it through
``tests/unit/test_schema_evolution.py``).

    python scripts/gen_models.py          # rewrite schemas/models.py
    python scripts/gen_models.py --check  # fail if it would change
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AVRO_DIR = ROOT / "schemas" / "avro"
OUT = ROOT / "schemas" / "models.py"
FIELDS_OUT = ROOT / "schemas" / "fields.py"

PRIMITIVES = {
    "string": "str",
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "double": "float",
    "float": "float",
    "bytes": "bytes",
}
LOGICAL = {"uuid": "UUID", "timestamp-micros": "AwareDatetime", "timestamp-millis": "AwareDatetime"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def doc_lines(doc: str | None, indent: str) -> list[str]:
    return [f'{indent}"""{doc}"""'] if doc else []


class Generator:
    def __init__(self, flavor: str = "model") -> None:
        self.flavor = flavor  # "model": pydantic models; "fields": TypedDicts
        self.enums: list[str] = []
        self.blocks: list[str] = []
        self.known: dict[str, str] = {}  # avro full name -> python type expression
        self.payloads: list[tuple[str, str]] = []  # (python class, avro full name)

    def type_of(self, t: Any, ns: str) -> str:
        if isinstance(t, str):
            if t in PRIMITIVES:
                return PRIMITIVES[t]
            full = t if "." in t else f"{ns}.{t}"
            return self.known[full]
        if isinstance(t, list):
            branches = [b for b in t if b != "null"]
            if len(branches) == 1 and len(t) == 2:
                return f"{self.type_of(branches[0], ns)} | None"
            raise ValueError(f"only ['null', X] unions are supported outside the payload: {t}")
        kind = t["type"]
        if t.get("logicalType") == "timestamp-micros" and self.flavor == "fields":
            return "Micros"  # validated as an aware datetime, kept as its int micros
        if "logicalType" in t and t["logicalType"] in LOGICAL:
            return LOGICAL[t["logicalType"]]
        if kind in PRIMITIVES:
            return PRIMITIVES[kind]
        if kind == "array":
            return f"list[{self.type_of(t['items'], ns)}]"
        if kind == "map":
            return f"dict[str, {self.type_of(t['values'], ns)}]"
        if kind == "enum":
            return self.enum(t, ns)
        if kind == "record":
            return self.record(t, ns)
        raise ValueError(f"unsupported Avro type {t}")

    def enum(self, t: dict[str, Any], ns: str) -> str:
        name = t["name"]
        self.enums.append(name)
        if self.flavor == "fields":  # imported from models.py
            self.known[f"{t.get('namespace', ns)}.{name}"] = name
            return name
        symbols = ", ".join(json.dumps(s) for s in t["symbols"])
        self.blocks.append(
            f"{name} = Literal[{symbols}]\n" + (f'"""{t["doc"]}"""\n' if t.get("doc") else "")
        )
        self.known[f"{t.get('namespace', ns)}.{name}"] = name
        return name

    def record(self, t: dict[str, Any], ns: str, payload: bool = False) -> str:
        ns = t.get("namespace", ns)
        name = t["name"]
        body: list[str] = [*doc_lines(t.get("doc"), "    ")]
        if self.flavor == "fields":
            return self.typed_dict(t, ns, payload)
        if payload:
            tag = snake(name)
            body.append(f'    type: Literal["{tag}"] = "{tag}"')
            body.append('    """The event type: which branch of the payload union this is."""')
        for field in t["fields"]:
            if field["name"] == "payload":
                continue
            annotation = self.type_of(field["type"], ns)
            line = f"    {field['name']}: {annotation}"
            if "default" in field:
                default = field["default"]
                if default == []:
                    line += " = Field(default_factory=list)"
                elif default == {}:
                    line += " = Field(default_factory=dict)"
                else:
                    line += f" = {default!r}"
            body.append(line)
            body.extend(doc_lines(field.get("doc"), "    "))
        self.blocks.append(f"class {name}(AvroRecord):\n" + "\n".join(body) + "\n")
        self.known[f"{ns}.{name}"] = name
        if payload:
            self.payloads.append((name, f"{ns}.{name}"))
        return name

    def typed_dict(self, t: dict[str, Any], ns: str, payload: bool) -> str:
        name = t["name"]
        body = [*doc_lines(t.get("doc"), "    ")]
        for field in t["fields"]:
            annotation = self.type_of(field["type"], ns)
            if "default" in field:
                annotation = f"NotRequired[{annotation}]"
            body.append(f"    {field['name']}: {annotation}")
        self.blocks.append(
            f"@with_config(_CONFIG)\nclass {name}Fields(TypedDict):\n" + "\n".join(body) + "\n"
        )
        self.known[f"{ns}.{name}"] = f"Annotated[{name}Fields, _AS_FIELDS]"
        if payload:
            self.payloads.append((name, f"{ns}.{name}"))
        return self.known[f"{ns}.{name}"]

    def event(self, schema: dict[str, Any]) -> None:
        ns = schema["namespace"]
        payload_field = next(f for f in schema["fields"] if f["name"] == "payload")
        for branch in payload_field["type"]:
            self.record(branch, ns, payload=True)
        if self.flavor == "fields":
            return
        union = " | ".join(cls for cls, _ in self.payloads)
        self.blocks.append(
            f'Payload = Annotated[{union}, Field(discriminator="type")]\n'
            f'"""{payload_field["doc"]}"""\n'
        )
        self.record(schema, ns)
        self.blocks[-1] = self.blocks[-1].rstrip("\n") + "\n    payload: Payload\n"
        self.blocks[-1] += f'    """{payload_field["doc"]}"""\n'


def latest_schema() -> tuple[Path, dict[str, Any]]:
    latest = max(AVRO_DIR.glob("event.v*.avsc"), key=lambda p: int(p.stem.split(".v")[1]))
    return latest, json.loads(latest.read_text())


def render_fields() -> str:
    latest, schema = latest_schema()
    gen = Generator("fields")
    gen.event(schema)
    table = ",\n".join(f'    "{snake(c)}": {c}Fields' for c, _ in gen.payloads)
    text = (
        f'''"""TypedDicts of every payload of the event schema ({latest.name}), for validation
straight into the dicts fastavro encodes (the SDK's hot path; no model objects).

GENERATED by scripts/gen_models.py from schemas/avro/{latest.name}: do not edit by hand.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from handrail.schemas.models import {", ".join(sorted(set(gen.enums)))}
from handrail.schemas.timestamps import to_micros


def _as_dict(value: Any) -> Any:
    """Nested records may be given as their pydantic models."""
    return value.model_dump() if isinstance(value, BaseModel) else value


Micros = Annotated[AwareDatetime, AfterValidator(to_micros)]
"""A timestamp-micros field: given as an aware datetime, kept as its int microseconds
(what the wire carries, and what the SDK's packed events can hold)."""
_AS_FIELDS = BeforeValidator(_as_dict)
_CONFIG = ConfigDict(extra="forbid")


'''
        + "\n\n".join(gen.blocks)
        + f'''

PAYLOAD_FIELDS: dict[str, Any] = {{
{table},
}}
"""Event type -> TypedDict of its payload fields."""
'''
    )
    return ruff_format(text)


def ruff_format(text: str) -> str:
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(OUT), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return formatted.stdout


def render() -> str:
    latest, schema = latest_schema()
    gen = Generator()
    gen.event(schema)
    types = ",\n".join(f'    "{snake(c)}": {c}' for c, _ in gen.payloads)
    names = ",\n".join(f'    "{snake(c)}": "{full}"' for c, full in gen.payloads)
    header = f'''"""Pydantic models of the handrail event schema ({latest.name}).

GENERATED by scripts/gen_models.py from schemas/avro/{latest.name}: do not edit by hand.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AvroRecord(BaseModel):
    """Base of every generated record: immutable, and unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
'''
    footer = f'''
PAYLOAD_TYPES: dict[str, type[AvroRecord]] = {{
{types},
}}
"""Event type -> payload model."""

AVRO_NAMES: dict[str, str] = {{
{names},
}}
"""Event type -> full Avro name of its payload record (the union branch)."""
'''
    return ruff_format(header + "\n\n" + "\n\n".join(gen.blocks) + footer)


def main() -> int:
    stale = 0
    for path, text in ((OUT, render()), (FIELDS_OUT, render_fields())):
        if "--check" not in sys.argv:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            print(f"{path.relative_to(ROOT)} is stale: run python scripts/gen_models.py")
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
