"""Chain heads kept outside ClickHouse: one small JSON file per (topic, partition).

The sink writes a partition's new head *before* inserting the batch that ends there, so
a crash in between leaves the checkpoint ahead of the ledger, and the restarted sink
rebuilds exactly the same rows from Kafka (rows are deterministic). ``verify`` requires
each partition's chain to end exactly at its checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Checkpoints:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, topic: str, partition: int) -> Path:
        return self._dir / topic / f"{partition}.json"

    def write(self, topic: str, partition: int, offset: int, row_hash: str) -> None:
        path = self._path(topic, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            json.dump({"offset": offset, "row_hash": row_hash}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read(self, topic: str, partition: int) -> tuple[int, str] | None:
        path = self._path(topic, partition)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return int(data["offset"]), str(data["row_hash"])

    def partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) that has a checkpoint."""
        if not self._dir.exists():
            return []
        return sorted(
            (topic.name, int(p.stem))
            for topic in self._dir.iterdir()
            if topic.is_dir()
            for p in topic.glob("*.json")
        )
