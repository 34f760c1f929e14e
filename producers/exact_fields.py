"""The common record call, checked without pydantic.

Most calls pass every payload field as exactly the type the schema asks for: a ``str``,
an ``int``, a ``float``, a ``bool``, ``None`` where the field is optional, one of a
literal's values, or an empty sequence. For those, pydantic's validation would return the
values unchanged (empty sequences as lists), so ``exact`` returns them itself, for about
a third of pydantic's cost in a hot loop. Anything else (a value pydantic would coerce,
such as an ``int`` for a ``float`` field, a datetime, a non-empty list, a wrong type)
gets ``None``: the caller then asks pydantic, which converts it or names the wrong
field. The checks are derived from the generated TypedDicts (``handrail.schemas.fields``),
so they cannot drift from the schema.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from handrail.schemas.fields import PAYLOAD_FIELDS

EMPTY: list[Any] = []
"""Every event's empty arrays: one shared list, not a new one per call (fewer young objects
for the garbage collector to visit on the agent's thread). Records are never mutated."""

_NONE = type(None)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Spec:
    types: tuple[tuple[str, frozenset[type]], ...]
    """Each field and its exact types (None's type where it is optional)."""
    literals: tuple[tuple[str, frozenset[str]], ...]
    lists: tuple[str, ...]


def _types(annotation: Any) -> frozenset[type]:
    """The exact types a field may have for the check to pass; none: pydantic's."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return frozenset({str})
    if origin is list:
        return frozenset({list, tuple})  # empty ones only (``exact`` looks)
    if origin in (Union, types.UnionType) and _NONE in args:
        (inner,) = (a for a in args if a is not _NONE)
        return _types(inner) | {_NONE}
    if annotation in (str, int, float, bool):
        return frozenset({annotation})
    return frozenset()  # datetimes, nested records


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
    lists = tuple(name for name, hint in hints.items() if get_origin(hint) is list)
    return _Spec(tuple((name, _types(hint)) for name, hint in hints.items()), literals, lists)


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
    for name in spec.lists:
        if values[name]:
            return None
        values[name] = EMPTY
    return values
