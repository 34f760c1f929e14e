"""Chain heads kept outside ClickHouse: one small JSON file per (topic, partition).

The writers write a chain's new head *before* inserting the batch that ends there, so a
crash in between leaves the checkpoint ahead of the ledger, and the restarted writer
rebuilds exactly the same rows (rows are deterministic). ``verify`` requires each chain to
end exactly at its checkpoint. Where the directory is: ``LedgerSettings.checkpoint_path``
(beside a chdb ledger by default).

A file holds ``offset`` and ``row_hash`` of the chain's last row and ``uncovered_until``:
the highest offset of a quarantine row written before quarantine rows were chained
(migration 0005), -1 for none, fixed when a writer of this version first writes the chain
(``begin``). A file written before then has no ``uncovered_until``.
"""

from __future__ import annotations

import json
from pathlib import Path

from handrail.files import PRIVATE, FileModes


class Checkpoints:
    def __init__(self, directory: Path, modes: FileModes = PRIVATE) -> None:
        self._dir = directory
        self._modes = modes
        self._uncovered: dict[tuple[str, int], int] = {}

    def _path(self, topic: str, partition: int) -> Path:
        return self._dir / topic / f"{partition}.json"

    def _data(self, topic: str, partition: int) -> dict[str, object] | None:
        path = self._path(topic, partition)
        if not path.exists():
            return None
        data: dict[str, object] = json.loads(path.read_text())
        return data

    def begin(self, topic: str, partition: int, uncovered_until: int) -> None:
        """Before writing a chain: its ``uncovered_until`` is the file's, or (a file of an
        earlier version, or none) ``uncovered_until`` as the ledger has it now."""
        data = self._data(topic, partition) or {}
        kept = data.get("uncovered_until")
        self._uncovered[topic, partition] = int(kept) if isinstance(kept, int) else uncovered_until

    def write(self, topic: str, partition: int, offset: int, row_hash: str) -> None:
        path = self._path(topic, partition)
        self._modes.directory(self._dir)
        self._modes.directory(path.parent)
        data = {
            "offset": offset,
            "row_hash": row_hash,
            "uncovered_until": self._uncovered.get((topic, partition), -1),
        }
        self._modes.write(path, json.dumps(data))

    def read(self, topic: str, partition: int) -> tuple[int, str] | None:
        """``(offset, row_hash)`` of the chain's checkpointed head; None without a file."""
        data = self._data(topic, partition)
        if data is None:
            return None
        return int(str(data["offset"])), str(data["row_hash"])

    def uncovered_until(self, topic: str, partition: int) -> int | None:
        """Up to which offset a quarantine row may lack hashes (see the module's docstring);
        None: a file written before quarantine rows were chained (or no file)."""
        data = self._data(topic, partition)
        kept = None if data is None else data.get("uncovered_until")
        return int(kept) if isinstance(kept, int) else None

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
