"""The spool's directory layout: every name it writes, and the one place that reads a name
back (pure, apart from the two listings).

    <root>/<start-ns>-<session>/         a recorder session (``session_dir_name``)
        lock                             flock'd while its writer, adopter or reader lives
        adopted                          its writer is gone: another session replays it
        seg-00000001.avro                segments, numbered from 1 (``segment_name``)
        seg-00000001.cursor              leading records confirmed delivered
        rejected.jsonl                   events set aside for good, and why
    <root>/.new-<start-ns>-<session>/    a session being made (``pending_name``)

A session directory gets its name only once its lock is held: the writer makes it under
its pending name, takes the lock inside and renames it (``handrail.producers.spool.
session``). So a session directory whose lock is free has no writer, at any age, and a
pending one is never read or adopted.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from handrail.producers.spool.positions import MAX_SEGMENT

LOCK = "lock"
ADOPTED = "adopted"
"""Marker file in a session directory another session adopted (its writer is gone)."""
REJECTED = "rejected.jsonl"
"""Events set aside for good (Kafka refused them, or they cannot be encoded) and why."""
CURSOR = ".cursor"
PENDING = ".new-"
_SEGMENT = re.compile(r"seg-(\d{8,10})\.avro")
_SESSION_DIR = re.compile(r"\d+-([0-9a-f]+)")


def session_dir_name(start_ns: int, session: str) -> str:
    """The directory of a recorder session started at ``start_ns``; ``ValueError`` for a
    session id that is not lowercase hex (its directory would be read by no one)."""
    name = f"{start_ns:020d}-{session}"
    if session_of(name) != session:
        raise ValueError(f"a spool session id is lowercase hex: {session[:40]!r}")
    return name


def session_of(directory: str) -> str | None:
    """The recorder session of a spool directory ``<start-ns>-<session>``; None for a
    directory that is not a session's (a pending one included)."""
    match = _SESSION_DIR.fullmatch(directory)
    return match[1] if match else None


def pending_name(directory: str) -> str:
    """The name a session directory is made under, before its lock is held."""
    return f"{PENDING}{directory}"


def pending_of(name: str) -> str | None:
    """The session directory a pending one becomes; None for any other name."""
    if not name.startswith(PENDING):
        return None
    rest = name[len(PENDING) :]
    return rest if session_of(rest) is not None else None


def segment_name(number: int) -> str:
    """The file name of segment ``number``, as the spool writes it."""
    return f"seg-{number:08d}.avro"


def segment_number(name: str) -> int | None:
    """``7`` for ``seg-00000007.avro``; None for any other file name, a number written
    otherwise than the spool writes it (``seg-7.avro``, ``seg-000000007.avro``: two names
    for one number) or out of range (``seg-4294967296.avro``)."""
    match = _SEGMENT.fullmatch(name)
    if match is None:
        return None
    number = int(match[1])
    return number if segment_name(number) == name and number <= MAX_SEGMENT else None


def looks_like_segment(name: str) -> bool:
    """A name that may be meant for a segment (``seg-*`` or ``*.avro``), its cursor aside:
    what the reader quarantines when it may not read it."""
    if name.endswith(CURSOR) and segment_number(name[: -len(CURSOR)] + ".avro"):
        return False
    return name.startswith("seg-") or name.endswith(".avro")


def numbered_like_a_segment(name: str) -> bool:
    """``seg-<digits>.avro``, whether or not the number is written as the spool writes it."""
    return name.startswith("seg-") and name.endswith(".avro") and name[4:-5].isdigit()


def cursor_path(segment: Path) -> Path:
    """The cursor file of a segment."""
    return segment.with_suffix(CURSOR)


def _lstat(path: Path) -> os.stat_result | None:
    """``lstat``, or None for a path gone since it was listed."""
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _own_directory(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def sessions(root: Path) -> list[Path]:
    """The session directories under ``root`` that are this user's own (not symlinks),
    oldest first."""
    return sorted(p for p in root.iterdir() if session_of(p.name) and _own_directory(p))


def pending(root: Path) -> list[Path]:
    """The pending session directories under ``root`` that are this user's own."""
    return sorted(p for p in root.iterdir() if pending_of(p.name) and _own_directory(p))


def segments(session: Path) -> list[Path]:
    """A session's segment files in number order, regular files only (a symlink is never
    read)."""
    try:
        names = list(session.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [
        (number, p)
        for p in names
        if (number := segment_number(p.name)) is not None
        and (st := _lstat(p)) is not None
        and stat.S_ISREG(st.st_mode)
    ]
    return [p for _, p in sorted(found)]
