"""The common record call, checked without pydantic.

Most calls pass every payload field as exactly the type the schema asks for: a ``str``,
an ``int``, a ``float``, a ``bool``, ``None`` where the field is optional, one of a
literal's values, or an empty sequence. For those, pydantic's validation would return the
values unchanged (empty sequences as lists), so ``exact`` returns them itself, at a
fraction of the cost and touching far less code (a paced agent's calls run on cold
caches). Anything else (a value pydantic would coerce, such as an ``int`` for a ``float``
field, a datetime, a non-empty list, a wrong type) gets ``None``: the caller then asks
pydantic, which converts it or names the wrong field. The checks are derived from the
generated TypedDicts (``handrail.schemas.fields``), so they cannot drift from the schema.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from handrail.schemas.fields import PAYLOAD_FIELDS

EMPTY: list[Any] = []
"""Every event's empty arrays: one shared list, not a new one per call (fewer young objects
for the garbage collector to visit on the agent's thread). Records are never mutated."""

_Check = Callable[[Any], bool]


def _is_empty_sequence(value: Any) -> bool:
    return (type(value) is tuple or type(value) is list) and not value


def _exactly(kind: type) -> _Check:
    return lambda value: type(value) is kind


def _never(value: Any) -> bool:
    return False


def _check(annotation: Any) -> _Check:
    """The check for one field's type: exact types only; False sends the call to pydantic."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        allowed = frozenset(args)
        return lambda value: type(value) is str and value in allowed
    if origin is list:
        return _is_empty_sequence
    if origin in (Union, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        check = _check(inner)
        return lambda value: value is None or check(value)
    if annotation in (str, int, float, bool):
        return _exactly(annotation)
    return _never  # datetimes, nested records: pydantic's


@cache
def _checks(tag: str) -> tuple[dict[str, _Check], frozenset[str]]:
    """Each field's check, and the fields that are lists (given as the shared empty one)."""
    hints = get_type_hints(PAYLOAD_FIELDS[tag])
    lists = frozenset(name for name, hint in hints.items() if get_origin(hint) is list)
    return {name: _check(hint) for name, hint in hints.items()}, lists


def exact(tag: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """``values`` as pydantic would validate them, when every field is given and each is
    exactly its type; else None."""
    checks, lists = _checks(tag)
    if values.keys() != checks.keys():
        return None
    for name, value in values.items():
        if not checks[name](value):
            return None
    for name in lists:
        values[name] = EMPTY
    return values
