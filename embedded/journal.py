"""The pipeline's journal: a few named maps kept durable by a snapshot and a log (I/O).

``maps`` holds the maps in memory (the detectors' state, the router's, the pipeline's
positions and outboxes); the owner changes them in place and then ``commit``s the keys it
changed: one log entry with their current values (``None`` deletes). Every entry sets
keys, so replaying an entry twice does no harm: a crash between writing a snapshot and
truncating the log is harmless. An entry is ``length, crc32, JSON``; a torn last entry
(the process died while writing it) is dropped on open, and nothing after it is trusted.
When the log outgrows ``compact_bytes`` the maps are written as a new snapshot
(write, fsync, rename) and the log starts over. Its directory and files get the modes
given (``handrail.files``: 0700 and 0600 by default).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from handrail.embedded.errors import PipelineBusyError
from handrail.files import PRIVATE, FileModes, try_lock

_HEAD = struct.Struct(">II")
Maps = dict[str, dict[str, Any]]


def encode_entry(entry: Mapping[str, Mapping[str, Any]]) -> bytes:
    body = orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS)
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


def decode_entries(data: bytes) -> tuple[list[Maps], int]:
    """The whole, intact entries at the start of ``data`` and the bytes they take."""
    entries: list[Maps] = []
    pos = 0
    while pos + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, pos)
        body = data[pos + _HEAD.size : pos + _HEAD.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            break
        entries.append(orjson.loads(body))
        pos += _HEAD.size + length
    return entries, pos


def apply(maps: Maps, entry: Maps) -> None:
    for name, changes in entry.items():
        target = maps.setdefault(name, {})
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value


class Journal:
    """``<directory>/<name>.snapshot`` + ``<name>.log``, held by one process (``flock``)."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        fsync: bool,
        compact_bytes: int = 32 << 20,
        modes: FileModes = PRIVATE,
    ) -> None:
        modes.directory(directory)
        self._modes = modes
        self._lock = _exclusive(modes.open(directory / f"{name}.lock", "a"))
        self._snapshot = directory / f"{name}.snapshot"
        self._log_path = directory / f"{name}.log"
        self._fsync = fsync
        self._compact_bytes = compact_bytes
        snapshot = self._snapshot.read_bytes() if self._snapshot.exists() else b"{}"
        self.maps: Maps = orjson.loads(snapshot)
        data = self._log_path.read_bytes() if self._log_path.exists() else b""
        entries, valid = decode_entries(data)
        for entry in entries:
            apply(self.maps, entry)
        self.replayed = len(entries)
        self._log: IO[bytes] = modes.open(self._log_path, "r+b" if data else "wb")
        self._log.truncate(valid)  # a torn tail goes
        self._log.seek(valid)
        self._size = valid

    def map(self, name: str) -> dict[str, Any]:
        return self.maps.setdefault(name, {})

    def commit(self, changed: Mapping[str, Iterable[str]]) -> None:
        """Make the current values of these keys durable (absent keys are deleted)."""
        entry = {
            name: {key: self.maps.get(name, {}).get(key) for key in keys}
            for name, keys in changed.items()
        }
        entry = {name: values for name, values in entry.items() if values}
        if not entry:
            return
        data = encode_entry(entry)
        self._log.write(data)
        self._log.flush()
        if self._fsync:
            os.fsync(self._log.fileno())
        self._size += len(data)
        if self._size >= self._compact_bytes:
            self.compact()

    def compact(self) -> None:
        """Write every map as the snapshot, then start the log over."""
        self._modes.write(self._snapshot, orjson.dumps(self.maps, option=orjson.OPT_NON_STR_KEYS))
        self._log.truncate(0)
        self._log.seek(0)
        self._size = 0

    def close(self) -> None:
        self._log.close()
        self._lock.close()


def _exclusive(handle: IO[str]) -> IO[str]:
    if not try_lock(handle):
        handle.close()
        raise PipelineBusyError(
            f"another `handrail run` holds {handle.name}; stop it first (one pipeline per ledger)"
        ) from None
    return handle
