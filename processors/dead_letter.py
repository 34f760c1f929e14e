"""Dead letters: a message a worker cannot take goes to the dead-letter topic unchanged
(same key, same bytes), with headers saying where it came from and why (pure)."""

from __future__ import annotations


def dead_letter_headers(
    error: BaseException, topic: str, partition: int, offset: int, stage: str
) -> list[tuple[str, bytes]]:
    return [
        ("handrail-error-type", type(error).__name__.encode()),
        ("handrail-error", str(error)[:2000].encode()),
        ("handrail-source", f"{topic}/{partition}/{offset}".encode()),
        ("handrail-stage", stage.encode()),
    ]
