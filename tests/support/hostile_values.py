"""Hypothesis strategies of hostile record-call arguments, derived from the generated
payload TypedDicts (``handrail.schemas.fields``) so they follow the schema: every field's
values of its own type and of others, adversarial strings (lone surrogates, NUL, control
characters, sizes around the limits) and numbers (NaN, infinities, negatives, past Avro's
long)."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from hypothesis import strategies as st
from pydantic import AwareDatetime
from typing_extensions import is_typeddict

from handrail.schemas.fields import PAYLOAD_FIELDS

EDGE_CHARS = ["\x00", "\x07", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\ud800",
              "\udfff", "\ufeff", "\u200d", "\U0001f600", "é"]  # fmt: skip
LIMITS = (64, 2_048, 8_192, 65_536)  # the smallest and the default limits


def often(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``common`` four times in five, else ``rare`` (``one_of`` would make it one in two)."""
    return st.integers(0, 4).flatmap(lambda i: rare if i == 0 else common)


def _sized() -> st.SearchStrategy[str]:
    """A string of one repeated character at a size around a limit."""
    return st.builds(
        lambda n, d, c: c * (n + d),
        st.sampled_from(LIMITS), st.sampled_from([-1, 0, 1]), st.sampled_from(["a", "é"]),
    )  # fmt: skip


HOSTILE_TEXT: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates too
    st.lists(st.sampled_from([*EDGE_CHARS, "a", "b", " "]), max_size=8).map("".join),
    _sized(),
    st.just(""),
)
PLAIN_TEXT: st.SearchStrategy[str] = st.one_of(
    st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12),
    st.sampled_from(["a", "db.customers.write", "é\u200d\U0001f600", "two\nlines\ttab"]),
)
TEXT = often(PLAIN_TEXT, HOSTILE_TEXT)
"""Mostly plain strings (accepted, so the property's other half is exercised), often hostile."""
HOSTILE_NUMBERS: st.SearchStrategy[Any] = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, -1.0, 1e308, 5e-324]),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, -1, 0]),
)
FLOATS = often(st.floats(0, 1e9), HOSTILE_NUMBERS)
INTS = often(st.integers(0, 2**63 - 1), HOSTILE_NUMBERS)
HOSTILE_TIMES: st.SearchStrategy[datetime] = st.one_of(
    st.datetimes(  # 1800-3000: past the ledger's range both ways
        min_value=datetime(1800, 1, 1), max_value=datetime(3000, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))]),
    ),
    st.datetimes(max_value=datetime(2100, 1, 1)),  # naive
)  # fmt: skip
TIMES = often(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2290, 1, 1),
                 timezones=st.sampled_from([UTC, timezone(timedelta(hours=14))])),
    HOSTILE_TIMES,
)  # fmt: skip
ANYTHING: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), HOSTILE_NUMBERS, HOSTILE_TEXT, HOSTILE_TIMES
)


def _plain(hint: Any) -> st.SearchStrategy[Any]:
    """Values of ``hint``'s own type (adversarial ones among them)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is NotRequired:
        return _plain(args[0])
    if origin is Literal:
        return often(st.sampled_from(args), st.just("not-a-value"))
    if origin in (Union, types.UnionType):
        return st.one_of(*(st.none() if a is type(None) else _plain(a) for a in args))
    if hint is AwareDatetime or any(a is AwareDatetime for a in args):
        return TIMES
    if origin is list:
        item = _plain(args[0])
        return often(
            st.one_of(st.lists(item, max_size=4), st.lists(item, max_size=4).map(tuple)),
            st.integers(1_000, 1_001).map(lambda n: [_filler(args[0])] * n),
        )
    if is_typeddict(hint):
        return record(hint)
    if hint is str:
        return TEXT
    if hint is int:
        return INTS
    if hint is float:
        return FLOATS
    if hint is bool:
        return st.booleans()
    for arg in args:  # Annotated[...]: the annotated type
        if arg is not None:
            return _plain(arg)
    return ANYTHING


def _filler(item: Any) -> Any:
    if is_typeddict(item) or get_args(item):
        return {"name": "n", "passed": True}
    return "x"


def _field(hint: Any) -> st.SearchStrategy[Any]:
    """Mostly values of the field's type, sometimes anything."""
    return often(_plain(hint), ANYTHING)


def record(typed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Argument sets of a TypedDict: its required fields, some optional ones."""
    hints = get_type_hints(typed, include_extras=True)
    required = {n: _field(h) for n, h in hints.items() if get_origin(h) is not NotRequired}
    optional = {n: _field(h) for n, h in hints.items() if get_origin(h) is NotRequired}
    return st.fixed_dictionaries(required, optional=optional)


def arguments(tag: str) -> st.SearchStrategy[dict[str, Any]]:
    """Hostile argument sets of event type ``tag``'s record call."""
    return record(PAYLOAD_FIELDS[tag])


def event_id_like() -> st.SearchStrategy[Any]:
    """Causations: valid event ids and everything else."""
    return st.one_of(st.uuids().map(str), HOSTILE_TEXT, st.none(), HOSTILE_NUMBERS)


LABELS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.none(), st.dictionaries(TEXT, TEXT, max_size=3)
)
