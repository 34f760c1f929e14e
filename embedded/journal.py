"""The pipeline's journal: a few named maps kept durable by a snapshot and a log (I/O).

``maps`` holds the maps in memory (the detectors' state, the router's, the pipeline's
positions and outboxes); the owner changes them in place and then ``commit``s the keys it
changed: one log entry with their current values (``None`` deletes). Every entry sets
keys, so replaying an entry twice does no harm: a crash between writing a snapshot and
truncating the log is harmless. An entry is a frame of ``handrail.frames`` (the control
log's codec) with the magic ``HRJ1`` and the JSON of the entry as its body; the log's
first bad frame ends it (a torn last entry: the process died while writing it), and
nothing after it is trusted, since applying later entries without it could make a state
that never was. When the log outgrows ``compact_bytes`` the maps are written as a new
snapshot (JSON: write, fsync, rename) and the log starts over. Its directory and files get
the modes given (``handrail.files``: 0700 and 0600 by default).

A log of the earlier format (``length, crc32, JSON`` entries, no magic) is read that way
on open, as far as its entries are whole, and at once compacted: its state goes into the
snapshot and the log starts over in frames.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from handrail.embedded.errors import PipelineBusyError
from handrail.files import PRIVATE, FileModes, try_lock
from handrail.frames import Frame, FrameCodec

log = logging.getLogger(__name__)
FRAMES = FrameCodec(b"HRJ1")
"""A magic of its own: a journal's frames are never taken for the control log's."""
_OLD_HEAD = struct.Struct(">II")  # the earlier format: length, crc32
Maps = dict[str, dict[str, Any]]


def encode_entry(entry: Mapping[str, Mapping[str, Any]]) -> bytes:
    return FRAMES.encode(orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS))


def decode_entries(data: bytes) -> tuple[list[Maps], int]:
    """The entries of the whole frames at the start of ``data``, up to the first piece
    that is none, and the bytes they take."""
    entries: list[Maps] = []
    pos = 0
    for piece in FRAMES.scan(data, settled=False):
        if not isinstance(piece, Frame):
            break
        entries.append(orjson.loads(piece.body))
        pos = piece.end
    return entries, pos


def decode_old_entries(data: bytes) -> tuple[list[Maps], int]:
    """The same for a log of the earlier format (``length, crc32, JSON``), read once to
    upgrade it."""
    entries: list[Maps] = []
    pos = 0
    while pos + _OLD_HEAD.size <= len(data):
        length, crc = _OLD_HEAD.unpack_from(data, pos)
        body = data[pos + _OLD_HEAD.size : pos + _OLD_HEAD.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            break
        entries.append(orjson.loads(body))
        pos += _OLD_HEAD.size + length
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
        old = not FRAMES.opens(data[: len(FRAMES.magic)])
        entries, valid = (decode_old_entries if old else decode_entries)(data)
        for entry in entries:
            apply(self.maps, entry)
        self.replayed = len(entries)
        if valid < len(data):
            log.warning(
                "journal %s: %d bytes after its last whole entry dropped (a write the "
                "process did not finish)", self._log_path, len(data) - valid,
            )  # fmt: skip
        self._log: IO[bytes] = modes.open(self._log_path, "r+b" if data else "wb")
        self._log.truncate(valid)  # a torn tail goes
        self._log.seek(valid)
        self._size = valid
        if old:
            self.compact()  # into the snapshot; the log starts over in frames
            log.info("journal %s: %d entries of the earlier format upgraded", name, len(entries))

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
