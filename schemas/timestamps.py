"""Avro's timestamp-micros: an aware datetime as integer microseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    """``value`` (timezone-aware) in microseconds since the epoch, exactly as fastavro
    writes it (no float rounding)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
