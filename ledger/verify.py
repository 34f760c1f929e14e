"""``verify``: recompute every partition's hash chain and hold it against its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handrail.ledger.chain import first_break
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.rows import COLUMNS


@dataclass(frozen=True)
class Finding:
    topic: str
    partition: int
    offset: int
    what: str

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] offset {self.offset}: {self.what}"


@dataclass(frozen=True)
class Report:
    partitions: int
    rows: int
    broken: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.broken


def verify(client: Any, checkpoints: Checkpoints) -> Report:
    """Check every (topic, partition) found in the ledger or in the checkpoints."""
    found = client.query("SELECT DISTINCT topic, partition FROM events").result_rows
    keys = sorted({(str(t), int(p)) for t, p in found} | set(checkpoints.partitions()))
    broken, total = [], 0
    for topic, partition in keys:
        result = client.query(
            f"SELECT {', '.join(COLUMNS)} FROM events "
            "WHERE topic = {topic:String} AND partition = {partition:UInt32} ORDER BY offset",
            parameters={"topic": topic, "partition": partition},
        )
        rows = [dict(zip(COLUMNS, r, strict=True)) for r in result.result_rows]
        total += len(rows)
        link = first_break(rows, checkpoints.read(topic, partition))
        if link is not None:
            broken.append(Finding(topic, partition, *link))
    return Report(len(keys), total, broken)
