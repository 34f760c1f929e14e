"""A writer's session directories: its own, made with its lock held, and the dead sessions
it adopts (I/O).

A session is *gone* exactly when its lock is free: a recorder makes its directory under a
pending name (``pending_name``), takes the lock inside, and only then renames it
to its session name. No reader or adopter ever sees a session directory whose writer has
not yet taken its lock, however long the writer takes (a paused process, a spool that
could not be made at start, a directory made again after it was removed).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from handrail.files import FileModes
from handrail.producers.spool.access import take_lock
from handrail.producers.spool.errors import UnreadableSegmentError
from handrail.producers.spool.layout import (
    ADOPTED,
    LOCK,
    REJECTED,
    pending,
    pending_name,
    segments,
    sessions,
)

log = logging.getLogger(__name__)


@dataclass
class Session:
    dir: Path
    lock: IO[str] | None
    """None until the directory could be made (the spool was unusable at start)."""


def make_own(directory: Path, modes: FileModes) -> IO[str]:
    """Make the session directory ``directory`` with its lock already held, and return the
    lock. Raises ``OSError`` when it cannot (it is then not there under its name)."""
    modes.directory(directory.parent)  # the spool's root
    making = directory.with_name(pending_name(directory.name))
    shutil.rmtree(making, ignore_errors=True)  # an earlier attempt of this writer's
    modes.directory(making)
    try:
        handle = take_lock(making, modes)
    except UnreadableSegmentError as exc:  # a planted lock: not ours to use
        shutil.rmtree(making, ignore_errors=True)
        raise OSError(errno.EPERM, f"{making / LOCK}: {exc}") from exc
    except OSError:
        shutil.rmtree(making, ignore_errors=True)
        raise
    if handle is None:  # another process locked our pending directory: leave it to them
        raise OSError(errno.EBUSY, f"{making} is locked by another process")
    try:
        os.rename(making, directory)  # fails when a non-empty directory has the name
    except OSError:
        handle.close()
        shutil.rmtree(making, ignore_errors=True)
        raise
    return handle


def adopt_dead(root: Path, own: Path, modes: FileModes) -> list[Session]:
    """Lock the sessions under ``root`` whose writer is gone (their lock is free), mark
    them ``adopted`` (naming ``own``), and return them, oldest first. Pending directories
    left by writers that died while making theirs are removed."""
    for path in pending(root):
        _remove_pending(path, modes)
    adopted: list[Session] = []
    for other in sessions(root):
        if other == own:
            continue
        try:
            handle = take_lock(other, modes)
        except (OSError, UnreadableSegmentError) as exc:  # gone meanwhile, or planted
            log.warning("spool: %s is not adopted: %s", other, exc)
            continue
        if handle is None:
            continue  # a live session owns it
        try:
            modes.secure(other)
            with modes.open(other / ADOPTED, "w") as marker:
                marker.write(own.name)
        except OSError as exc:  # unmarked, a reader would wait on it: left to one
            log.warning("spool: %s is not adopted: %s", other, exc)
            handle.close()
            continue
        adopted.append(Session(other, handle))
    return adopted


def _remove_pending(path: Path, modes: FileModes) -> None:
    """Remove a pending directory whose writer is gone (it never held a segment)."""
    try:
        handle = take_lock(path, modes)
    except (OSError, UnreadableSegmentError):
        return
    if handle is not None:
        shutil.rmtree(path, ignore_errors=True)
        handle.close()


def holds_nothing(directory: Path) -> bool:
    """No segment and no rejected event left in a session directory."""
    return not segments(directory) and not (directory / REJECTED).exists()
