"""The common record call, checked without pydantic.

Most calls pass every payload field as exactly the type the schema asks for: a ``str``,
an ``int``, a ``float``, a ``bool``, ``None`` where the field is optional, one of a
literal's values, or a list (or tuple) of such strings or of plain dicts whose fields are
such values (a decision's checks and inputs). For those, pydantic's validation would
return equal values (sequences as new lists, nested records as new dicts), so ``exact``
returns them itself. In a hot loop that costs about what pydantic costs; on the cold
caches a call meets after the agent did something else it costs half (~10 against
~20 us). Anything else (a value pydantic would coerce, such as an ``int`` for a
``float`` field, a datetime, a pydantic model in a list, a wrong type, a field the
schema does not have) gets ``None``: the caller then asks pydantic, which converts it or
names the wrong field. The checks are derived from the generated TypedDicts
(``handrail.schemas.fields``), so they cannot drift from the schema.

Lists and nested records are copied, as pydantic copies them: an agent that changes its
list after the call does not change the event.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from typing_extensions import is_typeddict  # the TypedDicts are typing_extensions' (Python 3.11)

from handrail.schemas.fields import PAYLOAD_FIELDS

EMPTY: list[Any] = []
"""Every event's empty arrays: one shared list, not a new one per call (fewer young objects
for the garbage collector to visit on the agent's thread). Records are never mutated."""

_NONE = type(None)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Record:
    """A nested record whose fields are all plain values (each field's exact types)."""

    types: dict[str, frozenset[type]]
    required: tuple[str, ...]


Item = frozenset[type] | _Record | None
"""What a list's items must be: exactly one of these types, a plain record, or (None)
anything pydantic must look at."""


@dataclass(frozen=True, slots=True)
class _Spec:
    types: tuple[tuple[str, frozenset[type]], ...]
    """Each field and its exact types (None's type where it is optional)."""
    literals: tuple[tuple[str, frozenset[str]], ...]
    lists: tuple[tuple[str, Item], ...]


def _types(annotation: Any) -> frozenset[type]:
    """The exact types a field may have for the check to pass; none: pydantic's."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return frozenset({str})
    if origin is list:
        return frozenset({list, tuple})  # their items: ``_item``
    if origin in (Union, types.UnionType) and _NONE in args:
        (inner,) = (a for a in args if a is not _NONE)
        return _types(inner) | {_NONE}
    if annotation in (str, int, float, bool):
        return frozenset({annotation})
    return frozenset()  # datetimes, nested records


def _item(annotation: Any) -> Item:
    """How the items of a list field are checked."""
    (inner,) = get_args(annotation)
    if is_typeddict(inner):
        # NotRequired marks the optional fields (``__required_keys__`` cannot tell: the
        # annotations are still strings when the class is made)
        marked = get_type_hints(inner, include_extras=True)
        hints = {
            n: get_args(h)[0] if get_origin(h) is NotRequired else h for n, h in marked.items()
        }
        fields = {name: _types(hint) for name, hint in hints.items()}
        if not all(fields.values()) or any(_literal(hint) for hint in hints.values()):
            return None
        required = tuple(
            name for name, hint in marked.items() if get_origin(hint) is not NotRequired
        )
        return _Record(fields, required)
    return _types(inner) or None


def _literal(annotation: Any) -> frozenset[str] | None:
    for hint in (annotation, *get_args(annotation)):
        if get_origin(hint) is Literal:
            return frozenset(get_args(hint))
    return None


@cache
def _spec(tag: str) -> _Spec:
    hints = get_type_hints(PAYLOAD_FIELDS[tag])
    literals = tuple(
        (name, allowed) for name, hint in hints.items() if (allowed := _literal(hint)) is not None
    )
    lists = tuple((name, _item(hint)) for name, hint in hints.items() if get_origin(hint) is list)
    return _Spec(tuple((name, _types(hint)) for name, hint in hints.items()), literals, lists)


def _copy(values: list[Any] | tuple[Any, ...], item: Item) -> list[Any] | None:
    """The list pydantic would give for these items, if it would give them unchanged."""
    if not values:
        return EMPTY
    if type(item) is frozenset:
        for value in values:
            if type(value) not in item:
                return None
        return list(values)
    if type(item) is not _Record:
        return None
    fields, required = item.types, item.required
    copies = []
    for value in values:
        if type(value) is not dict:
            return None
        for name, field in value.items():
            if type(field) not in fields.get(name, ()):
                return None
        for name in required:
            if name not in value:
                return None
        copies.append(value.copy())
    return copies


def exact(tag: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """``values`` as pydantic would validate them, when every field is given and each is
    exactly its type; else None."""
    spec = _spec(tag)
    if len(values) != len(spec.types):
        return None
    for name, allowed in spec.types:
        if type(values.get(name, _MISSING)) not in allowed:
            return None
    for name, options in spec.literals:
        value = values[name]
        if value is not None and value not in options:
            return None
    for name, item in spec.lists:
        copied = _copy(values[name], item)
        if copied is None:
            return None
        values[name] = copied
    return values
