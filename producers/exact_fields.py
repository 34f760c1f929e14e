"""The common record call, checked without pydantic.

Most calls pass every payload field as exactly the type the schema asks for: a ``str``,
an ``int``, a ``float``, a ``bool``, ``None`` where the field is optional, one of a
literal's values, or a list (or tuple) of such strings or of plain dicts whose fields are
such values (a decision's checks and inputs). For those, pydantic's validation would
return equal values (sequences as new lists, nested records as new dicts), so the event
type's check (``exact(tag)``, straight-line code compiled once per type) returns them
itself: a decision in ~1.5 us, where pydantic takes ~2.4. Anything else (a value pydantic
would coerce, such as an ``int`` for a ``float`` field, a datetime, a pydantic model in a
list, a wrong type, a field the schema does not have) gets ``None``: the caller then asks
pydantic, which converts it or names the wrong field. The checks are derived from the
generated TypedDicts (``handrail.schemas.fields``), so they cannot drift from the schema.

Lists and nested records are copied, as pydantic copies them: an agent that changes its
list after the call does not change the event.

The check also applies the SDK's rules on values (``validation``: finite numbers in range,
strings of scalar values without control characters, within ``EventLimits``), compiled
from the same tables: a value that breaks one gets None too, and the slow path names it.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from typing_extensions import is_typeddict  # the TypedDicts are typing_extensions' (Python 3.11)

from handrail.producers.validation import DEFAULT_LIMITS, REQUIRED, number_range, string_rule
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.settings import EventLimits

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


def _source(tag: str, spec: _Spec, limits: EventLimits) -> tuple[str, dict[str, object]]:
    """The Python source of ``tag``'s check, and the constants it reads."""
    constants: dict[str, object] = {"_MISSING": _MISSING, "EMPTY": EMPTY}
    items = dict(spec.lists)
    lines = [
        f"def exact_{tag}(v):",
        f"    if len(v) != {len(spec.types)}: return None",
        "    n = 0",
    ]
    for i, (name, allowed) in enumerate(spec.types):
        lines.append(f"    x = v.get({name!r}, _MISSING)")
        lines += _field_lines(i, name, allowed, spec=spec, constants=constants, limits=limits,
                              fail="None")  # fmt: skip
        if name in items:
            lines += _list_lines(name, items[name], f"I{i}", constants, limits)
    lines.append(f"    if n > {limits.max_event_chars}: return None")
    if _most_chars(spec, limits) <= limits.max_event_chars:  # the total needs no count
        lines = [line for line in lines if not _COUNTING.search(line)]
    return "\n".join([*lines, "    return v", ""]), constants


def _field_lines(
    i: int,
    name: str,
    allowed: frozenset[type],
    *,
    spec: _Spec,
    constants: dict[str, object],
    limits: EventLimits,
    fail: str,
) -> list[str]:
    """The lines that return ``fail`` when field ``name`` (in ``x``) is not exactly one of
    its types or breaks a value rule, and count its characters (in ``n``)."""
    literals = dict(spec.literals)
    plain = sorted(t.__name__ for t in allowed if t is not _NONE)
    wrong = " and ".join(f"type(x) is not {t}" for t in plain) or "True"  # pydantic's
    if name in literals:
        constants[f"L{i}"] = literals[name]
        wrong = f"{wrong} or x not in L{i}"
    elif len(plain) == 1 and plain[0] in ("int", "float", "str"):
        rule = _rule(name, plain[0], "x", f"R{i}", constants=constants, limits=limits)
        wrong = f"{wrong} or {rule}"
    if _NONE in allowed:
        wrong = f"x is not None and ({wrong})"
    lines = [f"    if {wrong}: return {fail}"]
    if plain == ["str"] and name not in literals:
        lines.append("    if x: n += len(x)")
    return lines


_COUNTING = re.compile(r"^\s*(if \w+: )?n (\+)?= |^\s*if n > ")
"""The lines that count an event's characters."""


def _most_chars(spec: _Spec, limits: EventLimits) -> int:
    """The most characters the strings of an event of ``spec`` can hold, each at its limit."""
    items = dict(spec.lists)
    total = 0
    for name, allowed in spec.types:
        if name in items:
            item = items[name]
            if isinstance(item, _Record):
                each = sum(string_rule(f, limits)[0] for f, t in item.types.items() if str in t)
            else:
                each = string_rule(name, limits)[0] if item is not None and str in item else 0
            total += each * limits.max_list_items
        elif str in allowed:
            total += string_rule(name, limits)[0]
    return total


def _rule(
    name: str, kind: str, x: str, const: str, *, constants: dict[str, object], limits: EventLimits
) -> str:
    """The expression true when ``x`` (of exactly type ``kind``) breaks a value rule."""
    if kind == "str":
        limit, bad = string_rule(name, limits)
        constants[const] = bad.search
        empty = f"not {x} or " if name in REQUIRED else ""
        return f"({empty}len({x}) > {limit} or (not {x}.isprintable() and {const}({x})))"
    constants[f"{const}lo"], constants[f"{const}hi"] = number_range(
        name, int if kind == "int" else float
    )
    return f"not ({const}lo <= {x} <= {const}hi)"


def _list_lines(
    name: str, item: Item, const: str, constants: dict[str, object], limits: EventLimits
) -> list[str]:
    """The lines that check list field ``name`` (in ``x``) and put it into ``v`` as
    pydantic would give it (an empty one as ``EMPTY``), or return None."""
    if item is None:
        return ["    if x: return None", f"    v[{name!r}] = EMPTY"]
    if isinstance(item, frozenset):
        constants[const] = item
        rule = "False"
        if item == {str}:
            rule = _rule(name, "str", "i", f"{const}s", constants=constants, limits=limits)
        count = "n += len(i)" if item == {str} else "pass"
        return [
            "    if x:",
            f"        if len(x) > {limits.max_list_items}: return None",
            "        for i in x:",
            f"            if type(i) not in {const} or {rule}: return None",
            f"            {count}",
            f"        v[{name!r}] = list(x)",
            "    else:",
            f"        v[{name!r}] = EMPTY",
        ]
    constants[const] = item.types
    required = " or ".join(f"{field!r} not in i" for field in item.required) or "False"
    strings = []  # each string field of the record, checked once its types are known
    for j, (field, kinds) in enumerate(item.types.items()):
        if str in kinds:
            rule = _rule(field, "str", "f", f"{const}f{j}", constants=constants, limits=limits)
            if field in item.required:
                strings += [f"            f = i[{field!r}]", f"            if {rule}: return None"]
            else:
                strings += [
                    f"            f = i.get({field!r})",
                    f"            if f is not None and {rule}: return None",
                ]
            strings.append("            if f: n += len(f)")
    return [
        "    if x:",
        f"        if len(x) > {limits.max_list_items}: return None",
        "        c = []",
        "        for i in x:",
        "            if type(i) is not dict: return None",
        "            for k, f in i.items():",
        f"                if type(f) not in {const}.get(k, ()): return None",
        f"            if {required}: return None",
        *strings,
        "            c.append(i.copy())",
        f"        v[{name!r}] = c",
        "    else:",
        f"        v[{name!r}] = EMPTY",
    ]


Check = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""``tag``'s check: the values as pydantic would validate them, or None."""


@cache
def exact(tag: str, limits: EventLimits = DEFAULT_LIMITS) -> Check:
    """The check of event type ``tag`` under ``limits``: ``exact(tag)(values)`` is
    ``values`` as pydantic would validate them, when every field is given, each is exactly
    its type and meets the value rules; else None. Compiled once per type and limits into
    straight-line code: one frame, and no loop over the type's fields."""
    source, constants = _source(tag, _spec(tag), limits)
    namespace: dict[str, Any] = dict(constants)
    exec(compile(source, f"<exact {tag}>", "exec"), namespace)  # our own source
    check: Check = namespace[f"exact_{tag}"]
    return check


@cache
def exact_args(
    tag: str, names: tuple[str, ...], limits: EventLimits = DEFAULT_LIMITS
) -> Callable[..., bool]:
    """A check of some of event type ``tag``'s fields, given as arguments in the order of
    ``names`` (no list fields): True when ``exact(tag)`` would take each as it is (exactly
    its type, within the value rules, and their characters within the event's limit).
    For a call that knows the other fields' values are valid, without a dict to build."""
    spec = _spec(tag)
    kinds = dict(spec.types)
    chosen = _Spec(tuple((name, kinds[name]) for name in names), spec.literals, ())
    assert not {name for name, _ in spec.lists} & set(names), "list fields: use exact()"
    constants: dict[str, object] = {}
    lines = [f"def exact_{tag}_args({', '.join(names)}):", "    n = 0"]
    for i, (name, allowed) in enumerate(chosen.types):
        lines.append(f"    x = {name}")
        lines += _field_lines(i, name, allowed, spec=chosen, constants=constants,
                              limits=limits, fail="False")  # fmt: skip
    lines.append(f"    if n > {limits.max_event_chars}: return False")
    if _most_chars(chosen, limits) <= limits.max_event_chars:
        lines = [line for line in lines if not _COUNTING.search(line)]
    namespace: dict[str, Any] = dict(constants)
    source = "\n".join([*lines, "    return True", ""])
    exec(compile(source, f"<exact {tag} args>", "exec"), namespace)  # our own source
    check: Callable[..., bool] = namespace[f"exact_{tag}_args"]
    return check
