"""What characters an event's strings may hold (pure): identifiers no control character,
no line or paragraph separator, no lone surrogate; texts may also hold tabs and newlines.
The SDK refuses the rest before recording; readers of the control channel refuse entries
carrying them."""

from __future__ import annotations

import re

BAD_IDENTIFIER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def string_problem(value: str, limit: int, bad: re.Pattern[str], required: bool) -> str | None:
    """What is wrong with ``value`` (never the value itself), or None."""
    if len(value) > limit:
        return f"longer than {limit} characters"
    if not value and required:
        return "empty"
    if value.isprintable():  # (printable: none of the refused characters; C speed)
        return None
    found = bad.search(value)
    if found is None:
        return None
    char = ord(found.group())
    what = "a lone surrogate" if 0xD800 <= char <= 0xDFFF else "a control character"
    return f"{what} (U+{char:04X}) at index {found.start()}"


def identifier_problem(value: object) -> str | None:
    """Why ``value`` is no identifier (any length), or None."""
    if type(value) is not str:
        return "not a string"
    return string_problem(value, len(value), BAD_IDENTIFIER, True)
