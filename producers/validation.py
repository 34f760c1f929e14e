"""What the SDK accepts: the rules every event value meets at the call, so that what a
record call accepts the shipper can encode, the ledger can store and ``verify`` passes.

* Numbers are finite; integers within the Avro type the schema writes them as (``int``
  or ``long``); costs, durations, tokens and attempts are >= 0; a heartbeat's interval
  is > 0.
* Strings are Unicode scalar values: a lone surrogate (``json.loads('"\\\\ud800"')`` gives
  one) is refused, not replaced. Identifiers (action, ids, names, refs, labels) refuse
  every control character (C0, DEL, C1) and the line and paragraph separators; free text
  (``TEXT_FIELDS``) allows tab, newline and carriage return and refuses the other control
  characters. ``REQUIRED`` identifiers (an action, the ids) may not be empty.
* Sizes are bounded by ``producer.limits`` (``EventLimits``): each identifier, each text,
  all of an event's strings, the items of a list, a handoff payload's nesting.
* Times are timezone-aware (pydantic's ``AwareDatetime``) and within ``TIME_RANGE_US``.
* A causation is an event id (a UUID, or the ``EventRef`` a record call returned).

``problem`` names the first broken rule of a validated payload; the fast path
(``exact_fields``) compiles the same rules from the same tables. Messages never repeat a
value (it may be a secret): they name the event type, the field and the rule.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, get_args, get_type_hints

from pydantic import AwareDatetime

from handrail.schemas import registry
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.schemas.named_types import named_types
from handrail.schemas.strings import BAD_IDENTIFIER, BAD_TEXT, string_problem
from handrail.settings import EventLimits

DEFAULT_LIMITS = EventLimits()
LONG_RANGE: tuple[float, float] = (-(1 << 63), (1 << 63) - 1)
"""Avro's ``long``."""
INT_RANGE: tuple[float, float] = (-(1 << 31), (1 << 31) - 1)
"""Avro's ``int``."""
TIME_RANGE_US = (0, 10_413_791_999_999_999)
"""Times the ledger holds: 1970 to the end of ``DateTime64``'s 2299 (the ledger's own
``ingest_sql.TIME_RANGE_US``; a test keeps them equal)."""
FLOAT_RANGE = (-sys.float_info.max, sys.float_info.max)
"""Finite: NaN fails every comparison, the infinities fall outside."""

NON_NEGATIVE = frozenset(
    {"usd", "cost_usd", "duration_ms", "input_tokens", "output_tokens", "attempt", "status_code"}
)
POSITIVE = frozenset({"interval_s"})
TEXT_FIELDS = frozenset(
    {"rationale", "reason", "error_message", "detail", "value", "task", "summary", "status",
     "error", "alternatives", "signed"}
)  # fmt: skip
REQUIRED = frozenset(
    {"action", "approval_id", "handoff_id", "operation_id", "to_agent", "from_agent", "to",
     "approver", "name", "target_agent", "dedup_key", "by"}
)  # fmt: skip

_EVENT_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@cache
def avro_ints() -> frozenset[str]:
    """The fields the schema writes as Avro ``int`` (32 bits) in some record (``attempt``,
    ``status_code``); every other integer is a ``long``."""
    found = set()
    for named in named_types(registry().current.schema).values():
        for field in named.get("fields", []) if isinstance(named, dict) else []:
            kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
            if "int" in kinds:
                found.add(field["name"])
    return frozenset(found)


def number_range(name: str, kind: type) -> tuple[float, float]:
    """The values field ``name`` of type ``kind`` (int or float) may take."""
    low, high = (INT_RANGE if name in avro_ints() else LONG_RANGE) if kind is int else FLOAT_RANGE
    if name in POSITIVE:
        return (sys.float_info.min * sys.float_info.epsilon if kind is float else 1), high
    return (0, high) if name in NON_NEGATIVE else (low, high)


def string_rule(name: str, limits: EventLimits) -> tuple[int, re.Pattern[str]]:
    """Field ``name``'s longest value and the characters it refuses."""
    if name in TEXT_FIELDS:
        return limits.max_text_chars, BAD_TEXT
    return limits.max_identifier_chars, BAD_IDENTIFIER


@cache
def time_fields(tag: str) -> frozenset[str]:
    """The fields of ``tag`` given as aware datetimes (kept as microseconds)."""
    hints = get_type_hints(PAYLOAD_FIELDS[tag], include_extras=True)
    return frozenset(name for name, hint in hints.items() if _mentions(hint, AwareDatetime))


def _mentions(hint: Any, kind: Any) -> bool:
    return hint is kind or any(_mentions(arg, kind) for arg in get_args(hint))


def problem(tag: str, fields: Mapping[str, Any], limits: EventLimits) -> tuple[str, str] | None:
    """The first field of a validated payload that breaks a rule, and why; None if none."""
    times = time_fields(tag)
    total = 0
    for name, value in fields.items():
        found, chars = _value_problem(name, value, limits, name in times)
        if found is not None:
            return found
        total += chars
    if total > limits.max_event_chars:
        return "(event)", f"its strings hold more than {limits.max_event_chars} characters"
    return None


def _value_problem(
    name: str, value: Any, limits: EventLimits, is_time: bool = False
) -> tuple[tuple[str, str] | None, int]:
    """(the problem at ``name``, or None) and the characters of its strings."""
    if value is None or type(value) is bool:
        return None, 0
    if isinstance(value, str):
        limit, bad = string_rule(name, limits)
        why = string_problem(value, limit, bad, name in REQUIRED)
        return (None if why is None else (name, why)), len(value)
    if isinstance(value, int):
        low, high = TIME_RANGE_US if is_time else number_range(name, int)
        if not low <= value <= high:
            return (name, "a time outside 1970-2299" if is_time else _range(name, int)), 0
        return None, 0
    if isinstance(value, float):
        low, high = number_range(name, float)
        if not low <= value <= high:
            return (name, _range(name, float)), 0
        return None, 0
    if isinstance(value, list):
        return _list_problem(name, value, limits)
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            found, chars = _value_problem(key, item, limits)
            if found is not None:
                return (f"{name}.{found[0]}", found[1]), 0
            total += chars
        return None, total
    return None, 0  # (literals and other types were checked by the schema's validation)


def _list_problem(
    name: str, items: list[Any], limits: EventLimits
) -> tuple[tuple[str, str] | None, int]:
    if len(items) > limits.max_list_items:
        return (name, f"more than {limits.max_list_items} items"), 0
    total = 0
    for i, item in enumerate(items):
        found, chars = _value_problem(name, item, limits)
        if found is not None:
            where = found[0].removeprefix(name)
            return (f"{name}.{i}{where}", found[1]), 0
        total += chars
    return None, total


def _range(name: str, kind: type) -> str:
    if name in POSITIVE:
        return "not a finite number > 0"
    if kind is float:
        return "negative or not finite" if name in NON_NEGATIVE else "not finite"
    bits = "2**31-1" if name in avro_ints() else "2**63-1"
    return f"negative or past {bits}" if name in NON_NEGATIVE else f"outside -{bits}-1..{bits}"


def safe_text(text: str, limit: int = 1_000) -> str:
    """Free text the SDK makes from what it was given (a check's detail, a refusal's
    reason, which can quote a hostile payload): the refused characters replaced by U+FFFD
    and cut to ``limit`` characters, so that recording it cannot fail."""
    text = BAD_TEXT.sub("\ufffd", text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def labels_problem(labels: object, limits: EventLimits) -> str | None:
    """What is wrong with a labels map (keys and values are identifiers), or None."""
    if not isinstance(labels, Mapping):
        return "labels are not a mapping"
    if len(labels) > limits.max_list_items:
        return f"more than {limits.max_list_items} labels"
    for key, value in labels.items():
        for part, what in ((key, "a key"), (value, "a value")):
            if type(part) is not str:
                return f"{what} is not a string"
            why = string_problem(part, limits.max_identifier_chars, BAD_IDENTIFIER, False)
            if why is not None:
                return f"{what}: {why}"
    return None


def identifiers_problem(values: Iterable[tuple[str, Any]], limits: EventLimits) -> str | None:
    """The first of ``(name, value)`` that is not a non-empty identifier, and why."""
    for name, value in values:
        if type(value) is not str:
            return f"{name}: not a string"
        why = string_problem(value, limits.max_identifier_chars, BAD_IDENTIFIER, True)
        if why is not None:
            return f"{name}: {why}"
    return None


def is_event_id(value: object) -> bool:
    """Whether ``value`` is an event id: a UUID in its 36-character form."""
    return type(value) is str and len(value) == 36 and _EVENT_ID.fullmatch(value) is not None


def depth_problem(value: Any, max_depth: int) -> str | None:
    """Whether ``value`` (lists, tuples, dicts) nests deeper than ``max_depth``; walked
    without recursion, so a hostile payload cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    return None
