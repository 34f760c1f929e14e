"""A spool read whole, as the embedded pipeline's sources read it."""

from __future__ import annotations

from pathlib import Path

from handrail.producers.spool.cursor import Item
from handrail.producers.spool.source import Source

BATCH = 5_000


def read_spool(spool: Path) -> dict[str, list[Item]]:
    """Every source's items, read as the pipeline reads them."""
    out: dict[str, list[Item]] = {}
    for directory in sorted(p for p in spool.iterdir() if p.is_dir()):
        source = Source(directory, None)
        items = out.setdefault(source.topic, [])
        while batch := source.poll(BATCH).items:
            items += batch
        source.close()
    return out
