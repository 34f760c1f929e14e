"""Numbers for people: durations, dollar amounts and counts as alert texts and the terminal
show them (``6s``, ``10m``, ``$20.15``, ``2 sessions``), never ``5.99988s`` or
``$20.149999999999995``. Pure; machines read the numbers from the events, not from these."""

from __future__ import annotations

import math

_MINUTE, _HOUR, _DAY = 60, 3600, 86_400


def duration(seconds: float) -> str:
    """``250ms``, ``1.5s``, ``6s``, ``42s``, ``2m 5s``, ``10m``, ``3h 20m``, ``2d 4h``: two
    units at most, rounded to the smaller one."""
    if math.isnan(seconds):
        return "an unknown time"
    if seconds < 0:
        return f"-{duration(-seconds)}"
    if math.isinf(seconds):
        return "forever"
    if seconds == 0:
        return "0s"
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    if seconds < 10 and round(seconds, 1) < 10:
        return f"{round(seconds, 1):g}s"
    if round(seconds) < _MINUTE:
        return f"{round(seconds)}s"
    if round(seconds) < _HOUR:
        return _two(round(seconds), _MINUTE, "m", "s")
    if round(seconds / _MINUTE) < _DAY // _MINUTE:
        return _two(round(seconds / _MINUTE), _MINUTE, "h", "m")
    return _two(round(seconds / _HOUR), 24, "d", "h")


def _two(count: int, per: int, big: str, small: str) -> str:
    whole, rest = divmod(count, per)
    return f"{whole}{big} {rest}{small}" if rest else f"{whole}{big}"


def usd(amount: float) -> str:
    """``$20.15``, ``$1,234.50``, ``$0.00``; an amount under half a cent keeps two
    significant digits (``$0.0042``), so a small cost never reads as nothing."""
    if not math.isfinite(amount):
        return f"${amount}"
    if amount < 0:
        return f"-{usd(-amount)}"
    if amount == 0 or amount >= 0.005:
        return f"${amount:,.2f}"
    digits = min(12, 1 - math.floor(math.log10(amount)))
    return f"${amount:.{digits}f}"


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """``1 session``, ``2 sessions``, ``2.5 heartbeats`` (``nouns``: the plural when it is
    not ``noun + s``)."""
    return f"{count:g} {noun if count == 1 else nouns or noun + 's'}"
