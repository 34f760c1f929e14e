"""Numbers taken from events and from restored state, only when they can be added up.

An event's numbers come from agents and other producers, careless or hostile: NaN, ±inf,
negatives. State restored from JSON (the embedded journal, the Faust changelog) holds
``null`` where an earlier version kept a NaN or an infinity, since JSON has neither.
Detectors read both through these helpers, so such a value never reaches a sum, a
comparison or the state they save.
"""

from __future__ import annotations

import math


def finite(value: object) -> float | None:
    """``value`` as a float if it is a finite real number (not a bool); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def amount(value: object, most: float = math.inf) -> float | None:
    """``value`` as a float if it is a finite number from 0 to ``most``; else None."""
    number = finite(value)
    return number if number is not None and 0.0 <= number <= most else None
